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

/** A stop request, as the copy loops see it (the part of an AbortSignal they read). */
export interface StopRequest {
  /** A stop signal arrived: no further step is started. */
  readonly aborted: boolean;
  /** Then: the StoppedError to fail with. */
  readonly reason: unknown;
}

export interface StopOnSignals {
  /** Aborted (its reason a StoppedError) when a stop signal arrived: long loops check it between steps. */
  readonly signal: StopRequest;
  /** Catch the signals from now on (a command that writes images is starting). */
  install(): void;
  /** If a stop signal arrived: die by it now (never returns then). */
  dieIfStopped(): void;
}

export function stopOnSignals(): StopOnSignals {
  // A plain object, not an AbortController: the first one of a process costs 0.2 ms or more
  // (Node loads its implementation then), and nothing here listens for the abort.
  const request: { aborted: boolean; reason: unknown } = { aborted: false, reason: undefined };
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
    request.reason = new StoppedError(signal);
    request.aborted = true;
  }
  return {
    signal: request,
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
export function throwIfStopped(stop: StopRequest | undefined): void {
  if (stop?.aborted) throw stop.reason as StoppedError;
}
