/**
 * The zero tail of convert's source: chunks at the end that read as zeroes and so need no write
 * onto a target that reads as zeroes. Disk images often end in a long run of written zeroes (free
 * space), which qemu-img reads and checks only when its in-order workers get there, after every
 * write before it. Writes to one file are serialized by the kernel, so that part of a convert is
 * bound by the writes while a core is free: the scout reads the tail backwards from the end in the
 * meantime, one chunk at a time, and the workers then skip the chunks it found.
 *
 * It stops at the first chunk with data, once the workers reach its position, or at a read error
 * (the workers read that chunk themselves and report it). A chunk is marked only after all of it
 * was seen to be zero, so a worker either skips it or reads it itself: output is the same.
 */
export interface ZeroTailSource {
  /** Whether chunk `index` is known to read as zeroes (block status) without reading it. */
  knownZero(index: number): Promise<boolean>;
  /** Read chunk `index` into `into` (its length is the chunk's). */
  read(index: number, into: Uint8Array): Promise<void>;
  /** The length of chunk `index` (the last may be short). */
  lengthOf(index: number): number;
  isZero(data: Uint8Array): boolean;
}

export class ZeroTailScout {
  private readonly zero: Uint8Array;
  /** The lowest chunk index found zero so far (`chunks` when none). */
  private lowest: number;
  readonly finished: Promise<void>;

  /**
   * Start scouting chunks `[0, chunks)` backwards. `workersAt()` is the next chunk the workers
   * will take: the scout stops before reaching it.
   */
  constructor(
    private readonly source: ZeroTailSource,
    private readonly chunks: number,
    buffer: Uint8Array,
    private readonly workersAt: () => number,
  ) {
    this.zero = new Uint8Array(chunks);
    this.lowest = chunks;
    this.finished = this.run(buffer).catch(() => undefined);
  }

  /** Whether the scout found chunk `index` to read as zeroes. */
  isZero(index: number): boolean {
    return this.zero[index] === 1;
  }

  /** How many chunks at the end were found zero. */
  get tailChunks(): number {
    return this.chunks - this.lowest;
  }

  private async run(buffer: Uint8Array): Promise<void> {
    for (let index = this.chunks - 1; index > this.workersAt(); index--) {
      if (!(await this.source.knownZero(index))) {
        const data = buffer.subarray(0, this.source.lengthOf(index));
        await this.source.read(index, data);
        if (!this.source.isZero(data)) return;
      }
      this.zero[index] = 1;
      this.lowest = index;
    }
  }
}
