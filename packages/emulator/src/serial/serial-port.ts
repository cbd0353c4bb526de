/** COM1's host side: bytes from the guest go out through `output`; input reaches the guest through the callbacks given at open. */
export interface SerialPort {
  output(byte: number): void;
  /** Flush what the guest wrote and release the host resource. */
  close(): Promise<void>;
}

export interface SerialCallbacks {
  /** Bytes for the guest's COM1. */
  readonly toGuest: (data: Uint8Array) => void;
  /** The user asked to quit (Ctrl-a x on stdio). */
  readonly onQuit: () => void;
  /** The user pressed Ctrl-a c (stdio only, when the human monitor shares the terminal: `-serial mon:stdio`). */
  readonly onSwitch?: () => void;
}

/** Collects the guest's bytes and hands them on once per turn of the event loop (a write per byte would be slow). */
export class ByteBatcher {
  private pending: number[] = [];
  private scheduled = false;

  constructor(private readonly sink: (data: Uint8Array) => void) {}

  push(byte: number): void {
    this.pending.push(byte);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const data = Uint8Array.from(this.pending);
    this.pending = [];
    this.sink(data);
  }
}
