/**
 * Read buffers kept for reuse once their reply has left: a fresh buffer per READ made the garbage
 * collector a large share of a copy's CPU time (nbdcopy of a 256 MiB qcow2). Buffers are kept by
 * size, a few of each, and only up to the sizes clients commonly ask for.
 */
const LARGEST_KEPT = 4 * 1024 * 1024;
const KEPT_PER_SIZE = 32;

export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();

  take(length: number): Buffer {
    return this.free.get(length)?.pop() ?? Buffer.allocUnsafe(length);
  }

  /** Give back a buffer no one reads or writes any more. */
  give(buffer: Buffer): void {
    if (buffer.length > LARGEST_KEPT || buffer.length === 0) return;
    let list = this.free.get(buffer.length);
    if (!list) this.free.set(buffer.length, (list = []));
    if (list.length < KEPT_PER_SIZE) list.push(buffer);
  }
}
