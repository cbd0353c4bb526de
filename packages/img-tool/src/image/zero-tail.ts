/**
 * The zero tail of convert's source: chunks at the end that read as zeroes and so need no write
 * onto a target that reads as zeroes. Disk images often end in a long run of written zeroes (free
 * space), which qemu-img reads and checks only when its in-order workers get there, after every
 * write before it. Writes to one file are serialized by the kernel, so that part of a convert is
 * bound by the writes while a core is free: the scout reads the tail backwards from the end in the
 * meantime, two chunks at a time, and the workers then skip the chunks it found.
 *
 * It stops at the first chunk with data, once the workers reach its position, or at a read error
 * (the workers read that chunk themselves and report it). A chunk is marked only after all of it
 * was seen to be zero, so a worker either skips it or reads it itself: output is the same.
 *
 * A source whose last chunk block status reports as zeroes (an image's unallocated end) is
 * not scouted: the workers skip such chunks without reading them, and the data below was
 * allocated by a writer, so reading it ahead would rarely find zeroes. Scouting it anyway cost a
 * convert of such an image two chunk reads beside the first ones, and a walk over the known zeroes
 * that held up the start of the copy.
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
   * Start scouting chunks `[0, chunks)` backwards into two chunk-sized buffers. `workersAt()` is
   * the next chunk the workers will take: the scout stops before reaching it.
   */
  constructor(
    private readonly source: ZeroTailSource,
    private readonly chunks: number,
    buffers: readonly [Uint8Array, Uint8Array],
    private readonly workersAt: () => number,
  ) {
    this.zero = new Uint8Array(chunks);
    this.lowest = chunks;
    this.finished = this.run(buffers).catch(() => undefined);
  }

  /** Whether the scout found chunk `index` to read as zeroes. */
  isZero(index: number): boolean {
    return this.zero[index] === 1;
  }

  /** How many chunks at the end were found zero. */
  get tailChunks(): number {
    return this.chunks - this.lowest;
  }

  /**
   * Two chunks at a time: the next chunk is being read while the current one is checked. A read
   * still under way when the scout stops is waited for, so nothing reads after `finished`.
   */
  private async run(buffers: readonly [Uint8Array, Uint8Array]): Promise<void> {
    let index = this.chunks - 1;
    if (index <= this.workersAt() || (await this.source.knownZero(index))) return;
    let next = this.look(index, buffers[0]);
    try {
      for (let turn = 1; next; turn++) {
        const current = next;
        const at = index--;
        next = this.look(index, buffers[turn % 2]!);
        if (!(await current)) return;
        this.zero[at] = 1;
        this.lowest = at;
      }
    } finally {
      await next?.catch(() => undefined);
    }
  }

  /** Whether chunk `index` reads as zeroes; undefined when the workers have got there. */
  private look(index: number, buffer: Uint8Array): Promise<boolean> | undefined {
    if (index <= this.workersAt()) return undefined;
    return (async () => {
      if (await this.source.knownZero(index)) return true;
      const data = buffer.subarray(0, this.source.lengthOf(index));
      await this.source.read(index, data);
      return this.source.isZero(data);
    })();
  }
}
