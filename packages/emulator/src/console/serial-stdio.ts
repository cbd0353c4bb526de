import { ESCAPE_HELP, ESCAPE_HELP_MONITOR, EscapeDecoder } from './escape-keys.ts';

export interface SerialStdioOptions {
  /** Bytes typed for the guest's COM1. */
  readonly toGuest: (data: Uint8Array) => void;
  /** The user pressed Ctrl-a x. */
  readonly onQuit: () => void;
  /** The user pressed Ctrl-a c (only offered when a monitor shares the terminal). */
  readonly onSwitch?: () => void;
}

/**
 * COM1 on the process's stdin/stdout. When stdin is a terminal it goes into raw mode (the guest
 * sees every key, Ctrl-c included, as under QEMU's -nographic) until `close()`.
 */
export class SerialStdio {
  private readonly decoder = new EscapeDecoder();
  private pending: number[] = [];
  private flushScheduled = false;
  private readonly rawMode: boolean;
  private readonly onData = (chunk: Buffer) => this.input(chunk);

  constructor(private readonly options: SerialStdioOptions) {
    this.rawMode = process.stdin.isTTY === true;
    if (this.rawMode) process.stdin.setRawMode(true);
    process.stdin.on('data', this.onData);
    process.stdin.resume();
  }

  /** One byte from the guest; written out in batches (a byte per write would be slow). */
  output(byte: number): void {
    this.pending.push(byte);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    process.stdout.write(Uint8Array.from(this.pending));
    this.pending = [];
  }

  close(): void {
    this.flush();
    process.stdin.off('data', this.onData);
    if (this.rawMode) process.stdin.setRawMode(false);
    process.stdin.pause();
    process.stdin.unref?.();
  }

  private input(chunk: Buffer): void {
    for (const action of this.decoder.decode(chunk)) {
      if (action.kind === 'guest') this.options.toGuest(action.data);
      else if (action.kind === 'help') process.stdout.write(ESCAPE_HELP + (this.options.onSwitch ? ESCAPE_HELP_MONITOR : ''));
      else if (action.kind === 'switch') this.options.onSwitch?.();
      else this.options.onQuit();
    }
  }
}
