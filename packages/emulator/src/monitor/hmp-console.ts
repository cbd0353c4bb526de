import type { MonitorContext } from './context.ts';
import { executeHmp } from './hmp.ts';
import { tesseraVersion } from './version.ts';

const PROMPT = '(qemu) ';

/**
 * The human monitor on a byte stream (terminal, socket): QEMU's banner and `(qemu) ` prompt, a
 * small line editor (echo, backspace; cursor keys are ignored), one command at a time.
 */
export class HmpConsole {
  private line = '';
  private lastWasCr = false;
  private escape: 'none' | 'esc' | 'csi' = 'none';
  private queue: Promise<void> = Promise.resolve();
  private readonly pending: number[] = [];

  constructor(
    private readonly context: MonitorContext,
    private readonly write: (text: string) => void,
    /** Echo typed characters (not on a cooked terminal, which echoes itself). */
    private readonly echo = true,
  ) {}

  /** The banner and first prompt (a new client, or the first switch to the monitor). */
  greet(): void {
    this.write(`tessera ${tesseraVersion()} monitor - type 'help' for more information\r\n${PROMPT}`);
  }

  /** Show the prompt again (switching back to the monitor). */
  prompt(): void {
    this.write(`${PROMPT}${this.line}`);
  }

  /** Typed bytes. A command runs to its end before the bytes after it are read (and echoed). */
  input(data: Uint8Array): void {
    this.pending.push(...data);
    this.queue = this.queue.then(() => this.pump());
  }

  private async pump(): Promise<void> {
    while (this.pending.length > 0) {
      const byte = this.pending.shift()!;
      const wasCr = this.lastWasCr;
      this.lastWasCr = byte === 0x0d;
      if (this.escape === 'esc') {
        this.escape = byte === 0x5b || byte === 0x4f ? 'csi' : 'none';
        continue;
      }
      if (this.escape === 'csi') {
        if (byte >= 0x40 && byte <= 0x7e) this.escape = 'none';
        continue;
      }
      if (byte === 0x1b) this.escape = 'esc';
      else if (byte === 0x0d || byte === 0x0a) {
        if (byte === 0x0a && wasCr) continue; // CR LF is one Enter
        const command = this.line;
        this.line = '';
        if (this.echo) this.write('\r\n');
        await this.run(command);
      } else if (byte === 0x7f || byte === 0x08) {
        if (this.line.length > 0) {
          this.line = this.line.slice(0, -1);
          if (this.echo) this.write('\b \b');
        }
      } else if (byte >= 0x20) {
        const char = String.fromCharCode(byte);
        this.line += char;
        if (this.echo) this.write(char);
      }
    }
  }

  /** Wait for commands already typed (before the machine tears down). */
  async idle(): Promise<void> {
    await this.queue;
  }

  private async run(command: string): Promise<void> {
    let output: string;
    try {
      output = await executeHmp(this.context, command.trim());
    } catch (error) {
      output = `Error: ${(error as Error).message}\r\n`;
    }
    // After quit the machine is going away: no new prompt (as QEMU).
    const quitting = /^(quit|q)$/.test(command.trim().split(/\s+/)[0] ?? '');
    this.write(quitting ? output : `${output}${PROMPT}`);
  }
}
