// Running a program and sending it a signal at a chosen moment: the signal tests' runner, for
// tessera and for the QEMU program whose ending it must match.
import { spawn } from 'node:child_process';

export interface SignalledEnding {
  readonly code: number | null;
  /** The signal that ended the process, or null when it exited. */
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

/** Run `command args` in `cwd` and send `signal` after `afterMs` (unless it ended before). */
export function runAndSignal(command: string, args: readonly string[], cwd: string, signal: NodeJS.Signals, afterMs: number): Promise<SignalledEnding> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const timer = setTimeout(() => child.kill(signal), afterMs);
    child.on('error', reject);
    child.on('close', (code, killedBy) => {
      clearTimeout(timer);
      resolve({ code, signal: killedBy, stderr });
    });
  });
}
