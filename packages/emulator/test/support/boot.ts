// Run the emulator with a pipe on stdin, watching its serial output as it comes.
import { spawn } from 'node:child_process';

export interface BootResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

export interface BootOptions {
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
  /** Called once with stdin when `text` first appears on stdout. */
  readonly when?: { readonly text: string; readonly then: (stdin: NodeJS.WritableStream) => void };
}

// Generous: three engineers share two cores, and v86 slows down a lot under load.
export const BOOT_TIMEOUT_MS = 360_000;

export function boot(executable: string, args: readonly string[], options: BootOptions = {}): Promise<BootResult> {
  const started = performance.now();
  const child = spawn(process.execPath, [executable, ...args], {
    env: { ...process.env, TESSERA_MODULE_DIR: undefined, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? BOOT_TIMEOUT_MS - 10_000,
  });
  let stdout = '';
  let stderr = '';
  let triggered = false;
  child.stdout.setEncoding('latin1').on('data', (chunk: string) => {
    stdout += chunk;
    if (options.when && !triggered && stdout.includes(options.when.text)) {
      triggered = true;
      options.when.then(child.stdin);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, seconds: (performance.now() - started) / 1000 }));
  });
}

/** The guest's marker lines (`TESSERA-GUEST: …`), without the prefix. */
export function markers(stdout: string): string[] {
  return [...stdout.matchAll(/^TESSERA-GUEST: (.*?)\r?$/gm)].map((m) => m[1]!);
}
