import type { Duplex } from 'node:stream';

/** The client went away or broke the protocol: the connection ends, the server goes on. */
export class ConnectionClosed extends Error {
  constructor(message = 'connection closed') {
    super(message);
    this.name = 'ConnectionClosed';
  }
}

/** Incoming bytes above this pause the socket until requests take them (a client cannot fill memory). */
const HIGH_WATER = 64 * 1024 * 1024;

/**
 * Exact-length reads from a socket, in the order asked. The socket may be replaced by one that
 * wraps it (STARTTLS): bytes already buffered stay first.
 */
export class SocketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiter: { length: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private socket!: Duplex;
  private readonly onData = (data: Buffer) => {
    this.chunks.push(data);
    this.buffered += data.length;
    if (this.buffered > HIGH_WATER) this.socket.pause();
    this.serve();
  };
  private readonly onEnd = () => this.fail(new ConnectionClosed());
  private readonly onError = (error: Error) => this.fail(new ConnectionClosed(error.message));

  constructor(socket: Duplex) {
    this.attach(socket);
  }

  /** Read from `socket` from now on (the TLS socket wrapping the plain one). */
  attach(socket: Duplex): void {
    if (this.socket) {
      this.socket.off('data', this.onData).off('end', this.onEnd).off('close', this.onEnd).off('error', this.onError);
    }
    this.socket = socket;
    socket.on('data', this.onData).on('end', this.onEnd).on('close', this.onEnd).on('error', this.onError);
    socket.resume();
  }

  /** Stop reading the current socket (before another wraps it). */
  detach(): void {
    this.socket.off('data', this.onData).off('end', this.onEnd).off('close', this.onEnd).off('error', this.onError);
  }

  /** Bytes waiting that no read asked for yet. */
  get pending(): number {
    return this.buffered;
  }

  read(length: number): Promise<Buffer> {
    if (this.waiter) return Promise.reject(new Error('SocketReader: one read at a time'));
    if (length <= this.buffered) return Promise.resolve(this.take(length));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { length, resolve, reject };
      this.socket.resume();
    });
  }

  /** Read and drop `length` bytes (an option too long to keep). */
  async skip(length: number): Promise<void> {
    for (let left = length; left > 0; ) {
      const part = Math.min(left, 1 << 20);
      await this.read(part);
      left -= part;
    }
  }

  private serve(): void {
    const waiter = this.waiter;
    if (waiter && waiter.length <= this.buffered) {
      this.waiter = undefined;
      waiter.resolve(this.take(waiter.length));
    }
  }

  private take(length: number): Buffer {
    let result: Buffer;
    const first = this.chunks[0]!;
    if (length === 0) return Buffer.alloc(0);
    if (first.length >= length) {
      result = first.subarray(0, length);
      if (first.length === length) this.chunks.shift();
      else this.chunks[0] = first.subarray(length);
    } else {
      result = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const chunk = this.chunks[0]!;
        const n = Math.min(chunk.length, length - filled);
        chunk.copy(result, filled, 0, n);
        filled += n;
        if (n === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(n);
      }
    }
    this.buffered -= length;
    if (this.buffered <= HIGH_WATER) this.socket.resume();
    return result;
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    const waiter = this.waiter;
    if (waiter && waiter.length > this.buffered) {
      this.waiter = undefined;
      waiter.reject(error);
    }
  }
}
