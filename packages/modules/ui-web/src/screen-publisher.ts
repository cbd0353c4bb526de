// Sends the machine's screen to the connected pages: only when it changed, at most FRAME_RATE times
// a second, and in graphics mode only the band of rows that changed. A page that falls behind (its
// socket buffer is full) skips frames and gets a whole frame once it has caught up.
import type { MachineConsole } from '@tessera/core';
import { encodeGraphicsRows, encodeTextScreen } from './protocol.ts';

export const FRAME_RATE = 20;
const FRAME_INTERVAL_MS = 1000 / FRAME_RATE;
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

export interface FrameReceiver {
  readonly bufferedAmount: number;
  send(data: string | Buffer): void;
}

interface Frame {
  readonly width: number;
  readonly height: number;
  /** Our own copy: the machine's buffer keeps changing under us. */
  readonly rgba: Uint8Array;
}

export class ScreenPublisher {
  /** Bumped whenever the captured screen differs from the previous capture. */
  private version = 0;
  private text: string | undefined;
  private frame: Frame | undefined;
  /** The rows that changed between version - 1 and version, for pages that are up to date. */
  private delta: { readonly version: number; readonly message: Buffer } | undefined;
  private whole: { readonly version: number; readonly message: string | Buffer } | undefined;
  private readonly receivers = new Map<FrameReceiver, number>();
  private timer: NodeJS.Timeout | undefined;
  private lastTick = 0;
  private readonly unsubscribe: () => void;

  constructor(private readonly machine: MachineConsole) {
    this.unsubscribe = machine.onScreenChange(() => this.schedule());
  }

  add(receiver: FrameReceiver): void {
    this.receivers.set(receiver, -1);
    this.capture();
    this.sendTo(receiver);
  }

  remove(receiver: FrameReceiver): void {
    this.receivers.delete(receiver);
  }

  close(): void {
    this.unsubscribe();
    clearTimeout(this.timer);
    this.timer = undefined;
    this.receivers.clear();
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastTick + FRAME_INTERVAL_MS - Date.now());
    this.timer = setTimeout(() => this.tick(), wait);
  }

  private tick(): void {
    this.timer = undefined;
    this.lastTick = Date.now();
    this.capture();
    let someoneBehind = false;
    for (const receiver of this.receivers.keys()) {
      if (!this.sendTo(receiver)) someoneBehind = true;
    }
    if (someoneBehind) this.schedule();
  }

  /** Brings one page up to date; false when its socket is too full to take a frame now. */
  private sendTo(receiver: FrameReceiver): boolean {
    const seen = this.receivers.get(receiver);
    if (seen === undefined || seen === this.version) return true;
    if (receiver.bufferedAmount > MAX_BUFFERED_BYTES) return false;
    const upToDate = this.delta !== undefined && this.delta.version === this.version && seen === this.version - 1;
    receiver.send(upToDate ? this.delta!.message : this.wholeScreen());
    this.receivers.set(receiver, this.version);
    return true;
  }

  private wholeScreen(): string | Buffer {
    if (this.whole?.version !== this.version) {
      const frame = this.frame;
      const message = frame ? encodeGraphicsRows(frame.width, frame.height, frame.rgba, 0, frame.height) : (this.text ?? '');
      this.whole = { version: this.version, message };
    }
    return this.whole.message;
  }

  private capture(): void {
    const screen = this.machine.screen();
    if (screen.mode === 'text') {
      const message = encodeTextScreen(screen.columns, screen.rows, screen.lines);
      if (message === this.text && !this.frame) return;
      this.changed();
      this.text = message;
      this.frame = undefined;
      return;
    }
    const { width, height, rgba } = screen;
    const previous = this.frame;
    if (!previous || previous.width !== width || previous.height !== height) {
      this.changed();
      this.text = undefined;
      this.frame = { width, height, rgba: rgba.slice(0, width * height * 4) };
      return;
    }
    const band = changedRows(previous.rgba, rgba, width * 4, height);
    if (!band) return;
    const rowBytes = width * 4;
    previous.rgba.set(rgba.subarray(band.first * rowBytes, (band.first + band.count) * rowBytes), band.first * rowBytes);
    this.changed();
    this.delta = { version: this.version, message: encodeGraphicsRows(width, height, previous.rgba, band.first, band.count) };
  }

  private changed(): void {
    this.version += 1;
    this.delta = undefined;
  }
}

/** The first row that differs and how many rows up to the last one that differs, or undefined. */
function changedRows(before: Uint8Array, after: Uint8Array, rowBytes: number, height: number) {
  const row = (data: Uint8Array, y: number) => Buffer.from(data.buffer, data.byteOffset + y * rowBytes, rowBytes);
  let first = 0;
  while (first < height && row(before, first).equals(row(after, first))) first += 1;
  if (first === height) return undefined;
  let last = height - 1;
  while (last > first && row(before, last).equals(row(after, last))) last -= 1;
  return { first, count: last - first + 1 };
}
