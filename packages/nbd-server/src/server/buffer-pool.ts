/**
 * Read buffers kept for reuse once their reply has left: a fresh buffer per READ made allocation
 * and the garbage collector a large share of a copy's CPU time (nbdcopy of a 256 MiB qcow2, whose
 * reads are of every length). Buffers are kept in power-of-two sizes (a request gets the front of
 * one), up to the sizes clients commonly ask for, and as many as a client keeps in flight
 * (nbdcopy: 64 requests): the pool is bounded by the bytes it holds, not by a count per size
 * (a count of 32 made half of nbdcopy's 64 reads allocate, and the collector free, a buffer each),
 * and grows with the connections open: nbdcopy's connections (up to four, one per core) hold 64
 * MiB of reads and a little more while replies leave, and a bound of 64 MiB for all made a tenth
 * of its reads allocate.
 * What connections no longer need is dropped a while after they close, not at once: a client that
 * reconnects (nbdcopy after nbdcopy, qemu reopening) would otherwise fault fresh memory in for
 * every copy, and in a VM a page fault is a trip to the hypervisor (perf, 1 GiB nbdcopy: faults
 * inside the kernel's copy into these buffers were 6% of the server's CPU time).
 */
const SMALLEST = 64 * 1024;
const LARGEST_KEPT = 4 * 1024 * 1024;
/** Bytes the free buffers may hold per open connection (as the transmission's in-flight bound per connection), and with none open. */
const KEPT_BYTES = 64 * 1024 * 1024;
/** How long after a connection closes the shares it no longer needs are kept. */
const TRIM_DELAY_MS = 10_000;

export interface PooledBuffer {
  readonly bytes: Buffer;
  /** Give it back: no one reads or writes it any more. */
  release(): void;
}

export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private keptBytes = 0;
  private connections = 0;
  /** Connections' shares the pool keeps: the most open at once since the last trim (at least one). */
  private shares = 1;
  private trimTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly keptPerConnection = KEPT_BYTES,
    private readonly trimDelayMs = TRIM_DELAY_MS,
  ) {}

  private get maxKeptBytes(): number {
    return this.keptPerConnection * this.shares;
  }

  /** A connection opens: the pool may keep its share more until a while after the returned function is called. */
  open(): () => void {
    this.connections++;
    this.shares = Math.max(this.shares, this.connections);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      this.connections--;
      clearTimeout(this.trimTimer);
      this.trimTimer = setTimeout(() => this.trim(), this.trimDelayMs);
      this.trimTimer.unref?.(); // a server that stops does not wait for it
    };
  }

  /** Drop free buffers beyond the shares of the connections open now. */
  private trim(): void {
    this.shares = Math.max(1, this.connections);
    for (const [size, list] of this.free) {
      while (this.keptBytes > this.maxKeptBytes && list.pop()) this.keptBytes -= size;
    }
  }

  take(length: number): PooledBuffer {
    if (length > LARGEST_KEPT) return { bytes: Buffer.allocUnsafe(length), release: () => undefined };
    let fit = SMALLEST;
    while (fit < length) fit *= 2;
    const whole = this.reuse(fit) ?? Buffer.allocUnsafe(fit);
    const size = whole.length;
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

  /**
   * The smallest free buffer of at least `fit` bytes: batched reads leave larger sizes behind, and
   * a pool full of those made every request of the common size allocate (and the collector free)
   * its own buffer.
   */
  private reuse(fit: number): Buffer | undefined {
    for (let size = fit; size <= LARGEST_KEPT; size *= 2) {
      const whole = this.free.get(size)?.pop();
      if (whole) {
        this.keptBytes -= size;
        return whole;
      }
    }
    return undefined;
  }
}
