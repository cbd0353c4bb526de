// Running tessera-img and killing it (SIGKILL) at a chosen moment: the crash tests' writer.
import { spawn } from 'node:child_process';
import { executable } from './executables.ts';

export interface KilledRun {
  /** It was killed (or failed) before it finished. */
  readonly killed: boolean;
  /** How long it ran, in milliseconds. */
  readonly ranMs: number;
}

/** `tessera-img ARGS` (the modular build) in `cwd`, killed with SIGKILL after `afterMs` if it still runs. */
export function runKilledAfter(args: readonly string[], cwd: string, afterMs: number): Promise<KilledRun> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, [executable('img-tool', 'modular'), ...args], { cwd, stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ killed: signal === 'SIGKILL' || code !== 0, ranMs: performance.now() - start });
    });
  });
}
