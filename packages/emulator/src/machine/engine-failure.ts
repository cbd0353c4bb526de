import { describeGuestState } from './guest-state.ts';
import type { V86Cpu } from './v86-internals.ts';

export interface EngineFailures {
  /** Resolves with the first failure. */
  readonly first: Promise<Error>;
  dispose(): void;
}

/**
 * Catch what v86 throws from its timers (its main loop runs there, out of any caller's reach)
 * while a machine is set up or runs. Only one machine runs per process, so any uncaught error in
 * that time is the engine's or the machine code's, and it must stop the machine, not the process.
 */
export function catchEngineFailures(onFailure: (error: Error) => void): EngineFailures {
  let resolveFirst: (error: Error) => void = () => {};
  const first = new Promise<Error>((resolve) => (resolveFirst = resolve));
  const handle = (reason: unknown) => {
    const error = reason instanceof Error ? reason : new Error(String(reason));
    resolveFirst(error);
    onFailure(error);
  };
  process.on('uncaughtException', handle);
  process.on('unhandledRejection', handle);
  return {
    first,
    dispose() {
      process.off('uncaughtException', handle);
      process.off('unhandledRejection', handle);
    },
  };
}

/** One line for the user: the engine failed, where the guest was, and the engine's own words. */
export function engineFailureMessage(error: Error, cpu: V86Cpu): string {
  const why =
    error instanceof RangeError && /call stack/i.test(error.message)
      ? ' (v86 recursed delivering a CPU exception: the guest faulted while its fault handler could not be reached, where a real PC would raise a double fault and reset)'
      : error.message === 'unreachable'
        ? ' (v86 panicked: its reason is printed above)'
        : '';
  return `the machine stopped: the emulator engine (v86) failed while running the guest at ${describeGuestState(cpu)}: ${error.name}: ${error.message}${why}`;
}
