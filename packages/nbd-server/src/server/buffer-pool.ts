/**
 * Read buffers kept for reuse once their reply has left: a fresh buffer per READ made allocation
 * and the garbage collector a large share of a copy's CPU time (nbdcopy of a 256 MiB qcow2, whose
 * reads are of every length). Buffers are kept in power-of-two sizes (a request gets the front of
 * one), up to the sizes clients commonly ask for, and as many as a client keeps in flight
 * (nbdcopy: 64 requests): the pool is bounded by the bytes it holds, not by a count per size
 * (a count of 32 made half of nbdcopy's 64 reads allocate, and the collector free, a buffer each).
 */
const SMALLEST = 64 * 1024;
const LARGEST_KEPT = 4 * 1024 * 1024;
/** Bytes the free buffers may hold in all (as the transmission's in-flight bound per connection). */
const KEPT_BYTES = 64 * 1024 * 1024;

export interface PooledBuffer {
  readonly bytes: Buffer;
  /** Give it back: no one reads or writes it any more. */
  release(): void;
}

export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private keptBytes = 0;

  constructor(private readonly maxKeptBytes = KEPT_BYTES) {}

  take(length: number): PooledBuffer {
    if (length > LARGEST_KEPT) return { bytes: Buffer.allocUnsafe(length), release: () => undefined };
    let size = SMALLEST;
    while (size < length) size *= 2;
    let whole = this.free.get(size)?.pop();
    if (whole) this.keptBytes -= size;
    else whole = Buffer.allocUnsafe(size);
    let released = false;
    return {
      bytes: whole.subarray(0, length),
      release: () => {
        if (released) return;
        released = true;
        if (this.keptBytes + size > this.maxKeptBytes) return;
        let list = this.free.get(size);
        if (!list) this.free.set(size, (list = []));
        list.push(whole);
        this.keptBytes += size;
      },
    };
  }
}
