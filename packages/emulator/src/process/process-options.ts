// The process side of the machine's options: -name process=, -pidfile, -daemonize. Run around
// runMachine by main.
import type { ProcessConfig } from '../machine/config.ts';
import { isDaemonChild, reportDaemonStarted, runDaemonParent } from './daemonize.ts';
import { writePidfile, type Pidfile } from './pidfile.ts';

export interface ProcessSetup {
  /** Call once the machine has started (the daemon's parent may exit then). */
  readonly started: () => void;
  /** Call at exit: the pid file goes. */
  readonly finish: () => void;
}

/**
 * Before the machine: under -daemonize in the parent, returns the parent's exit code (the machine
 * runs in the child); otherwise sets up the process and returns what to call at start and exit.
 */
export async function setUpProcess(config: ProcessConfig, args: readonly string[]): Promise<number | ProcessSetup> {
  const daemonChild = config.daemonize && isDaemonChild();
  if (config.daemonize && !daemonChild) return runDaemonParent(args);
  if (config.processName !== undefined) process.title = config.processName;
  // Written by the process that runs the machine (the daemon child), as QEMU does after forking.
  const pidfile: Pidfile | undefined = config.pidfile !== undefined ? writePidfile(config.pidfile) : undefined;
  return {
    started: () => {
      if (daemonChild) reportDaemonStarted();
    },
    finish: () => pidfile?.remove(),
  };
}
