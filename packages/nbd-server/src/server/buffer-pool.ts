/**
 * Read buffers kept for reuse once their reply has left: a fresh buffer per READ made allocation
 * and the garbage collector a large share of a copy's CPU time (nbdcopy of a 256 MiB qcow2, whose
 * reads are of every length). Buffers are kept in power-of-two sizes (a request gets the front of
 * one), a few of each, up to the sizes clients commonly ask for.
 */
const SMALLEST = 64 * 1024;
const LARGEST_KEPT = 4 * 1024 * 1024;
const KEPT_PER_SIZE = 32;

export interface PooledBuffer {
  readonly bytes: Buffer;
  /** Give it back: no one reads or writes it any more. */
  release(): void;
}

export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();

  take(length: number): PooledBuffer {
    if (length > LARGEST_KEPT) return { bytes: Buffer.allocUnsafe(length), release: () => undefined };
    let size = SMALLEST;
    while (size < length) size *= 2;
    const whole = this.free.get(size)?.pop() ?? Buffer.allocUnsafe(size);
    let released = false;
    return {
      bytes: whole.subarray(0, length),
      release: () => {
        if (released) return;
        released = true;
        let list = this.free.get(size);
        if (!list) this.free.set(size, (list = []));
        if (list.length < KEPT_PER_SIZE) list.push(whole);
      },
    };
  }
}
