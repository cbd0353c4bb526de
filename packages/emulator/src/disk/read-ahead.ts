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

  /** A copy of [offset, offset + length) when one window holds all of it. */
  lookup(offset: number, length: number): Uint8Array | undefined {
    const start = offset - (offset % this.windowSize);
    const window = this.windows.get(start);
    if (!window || offset + length > start + window.length) return undefined;
    this.windows.delete(start);
    this.windows.set(start, window);
    return window.slice(offset - start, offset - start + length);
  }

  /** The aligned span to read for a miss at [offset, offset + length), within a disk of `size` bytes. */
  span(offset: number, length: number, size: number): { start: number; end: number } | undefined {
    const start = offset - (offset % this.windowSize);
    const end = Math.min(start + this.windowSize, size);
    // A request crossing a window's end (or a bigger one) is read as asked, not cached.
    return offset + length <= end ? { start, end } : undefined;
  }

  store(start: number, data: Uint8Array): void {
    this.windows.delete(start);
    this.windows.set(start, data);
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
