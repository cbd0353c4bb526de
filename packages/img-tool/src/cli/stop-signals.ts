// SIGINT, SIGTERM and SIGHUP: qemu-img dies by them (no message, killed by the signal). tessera-img
// stops cleanly first: the copy loops (convert, commit) issue no new writes, the writes under way
// finish, the commands' finally blocks close the images (deferred metadata written in dependency
// order), and only then the process dies by the same signal, so the caller sees qemu-img's status.
// A second signal while stopping ends the process at once (a process crash, which the drivers'
// write ordering survives too). Commands that only read keep the default: they die at once.

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Thrown by a copy loop that stopped for a signal; reported by dying by that signal, not as a message. */
export class StoppedError extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`stopped by ${signal}`);
  }
}

export interface StopOnSignals {
  /** Aborted (its reason a StoppedError) when a stop signal arrived: long loops check it between steps. */
  readonly signal: AbortSignal;
  /** Catch the signals from now on (a command that writes images is starting). */
  install(): void;
  /** If a stop signal arrived: die by it now (never returns then). */
  dieIfStopped(): void;
}

export function stopOnSignals(): StopOnSignals {
  // Made when first asked for: only commands that write images need one, and the first
  // AbortController of a process costs about 0.2 ms (Node loads its implementation then).
  let controller: AbortController | undefined;
  const controllerOf = () => (controller ??= new AbortController());
  let received: NodeJS.Signals | undefined;
  let installed = false;
  const uninstall = () => {
    if (installed) for (const name of SIGNALS) process.off(name, onSignal);
    installed = false;
  };
  const die = (signal: NodeJS.Signals) => {
    uninstall(); // the default action again: the next delivery kills the process
    process.kill(process.pid, signal);
    process.exit(128 + (signalNumbers[signal] ?? 0)); // (should the signal not end it)
  };
  function onSignal(signal: NodeJS.Signals): void {
    if (received) return die(signal);
    received = signal;
    controllerOf().abort(new StoppedError(signal));
  }
  return {
    get signal() {
      return controllerOf().signal;
    },
    install() {
      for (const name of SIGNALS) process.on(name, onSignal);
      installed = true;
    },
    dieIfStopped() {
      if (received) die(received);
      uninstall();
    },
  };
}

const signalNumbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/** Throw the stop request's StoppedError if one arrived (a loop's check between steps). */
export function throwIfStopped(stop: AbortSignal | undefined): void {
  if (stop?.aborted) throw stop.reason as StoppedError;
}
