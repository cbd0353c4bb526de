/**
 * Recently read stretches of a disk, kept so that the guest's next reads are answered at once.
 *
 * Why: every read that goes to the host is asynchronous, and while it is on its way the guest
 * (SeaBIOS, a boot loader, a kernel waiting on its disk) spins through v86's main loop, a
 * millisecond of emulation per turn of Node's event loop. Boot loaders read the kernel and initrd
 * in small pieces one after another; reading an aligned window around each miss turns most of
 * those into synchronous hits (as v86's own in-memory disks answer), which saves both CPU and time.
 */
export class ReadAhead {
  /** Windows by start offset, oldest first (a Map keeps insertion order: re-inserted on use). */
  private readonly windows = new Map<number, Uint8Array>();

  constructor(
    readonly windowSize = 128 * 1024,
    private readonly maxWindows = 32,
  ) {}

  /** A copy of [offset, offset + length) when the windows hold all of it. */
  lookup(offset: number, length: number): Uint8Array | undefined {
    const first = offset - (offset % this.windowSize);
    const parts: Uint8Array[] = [];
    for (let start = first; start < offset + length; start += this.windowSize) {
      const window = this.windows.get(start);
      if (!window) return undefined;
      parts.push(window);
      if (window.length < this.windowSize && start + window.length < offset + length) return undefined; // the disk's end
    }
    const copy = new Uint8Array(length);
    parts.forEach((window, i) => {
      const start = first + i * this.windowSize;
      const from = Math.max(start, offset);
      const to = Math.min(start + window.length, offset + length);
      copy.set(window.subarray(from - start, to - start), from - offset);
      this.windows.delete(start);
      this.windows.set(start, window);
    });
    return copy;
  }

  /**
   * The aligned span to read for a miss at [offset, offset + length) within a disk of `size`
   * bytes: the windows it touches (boot loaders read 63.5 KiB at a time, across window ends).
   */
  span(offset: number, length: number, size: number): { start: number; end: number } | undefined {
    const start = offset - (offset % this.windowSize);
    const end = Math.min(Math.ceil((offset + length) / this.windowSize) * this.windowSize, size);
    // Bigger requests (or past the disk's end) are read as asked, not kept.
    return offset + length <= end && end - start <= 2 * this.windowSize ? { start, end } : undefined;
  }

  /** Keep what was read from `start` (a window's start), as windows. */
  store(start: number, data: Uint8Array): void {
    for (let at = 0; at < data.length; at += this.windowSize) {
      this.windows.delete(start + at);
      this.windows.set(start + at, data.subarray(at, at + this.windowSize));
    }
    while (this.windows.size > this.maxWindows) this.windows.delete(this.windows.keys().next().value!);
  }

  /** The guest wrote: windows it overlaps take the new bytes. */
  update(offset: number, data: Uint8Array): void {
    for (const [start, window] of this.windows) {
      const from = Math.max(start, offset);
      const to = Math.min(start + window.length, offset + data.length);
      if (from < to) window.set(data.subarray(from - offset, to - offset), from - start);
    }
  }

  /** Forget what overlaps [offset, offset + length) (a write the host refused: the disk kept its old bytes). */
  drop(offset: number, length: number): void {
    for (const [start, window] of this.windows) {
      if (start < offset + length && offset < start + window.length) this.windows.delete(start);
    }
  }
}
