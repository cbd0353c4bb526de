// A machine (tessera or qemu-system-i386) running in the background while a test talks to its monitors.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export class MachineProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcessWithoutNullStreams;

  constructor(command: string, args: readonly string[], timeoutMs: number) {
    this.child = spawn(command, args, { env: { ...process.env, TESSERA_MODULE_DIR: undefined }, stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    this.child.stdout.setEncoding('latin1').on('data', (chunk: string) => (this.stdout += chunk));
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  /** Run tessera's built executable under this Node. */
  static tessera(executable: string, args: readonly string[], timeoutMs: number): MachineProcess {
    return new MachineProcess(process.execPath, [executable, ...args], timeoutMs);
  }

  write(text: string): void {
    this.child.stdin.write(text);
  }

  /** Wait until stdout contains `text` (after `from`); returns the offset just past it. */
  async waitFor(text: string, timeoutMs: number, from = 0): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.stdout.indexOf(text, from);
      if (at >= 0) return at + text.length;
      if (Date.now() > deadline || this.child.exitCode !== null) {
        throw new Error(`no '${text}' on stdout; stdout:\n${this.stdout.slice(-2000)}\nstderr:\n${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
