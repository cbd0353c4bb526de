import type { Socket } from 'node:net';

/**
 * Exact-length reads from a socket: `read(n)` resolves with the next n bytes once they have all
 * arrived, in order. When the connection ends (or is failed with `fail`), every pending and later
 * read rejects with that reason, so no caller waits for bytes that will never come.
 */
const EMPTY = Buffer.alloc(0);

export class WireReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiting: { length: number; resolve: (data: Buffer) => void; reject: (error: Error) => void; deferTake?: boolean } | undefined;
  private failure: Error | undefined;

  constructor(socket: Socket, describeEnd: () => Error) {
    socket.on('data', (data: Buffer) => {
      this.chunks.push(data);
      this.buffered += data.length;
      this.deliver();
    });
    socket.on('end', () => this.fail(describeEnd()));
    socket.on('close', () => this.fail(describeEnd()));
  }

  /** The next `length` bytes. One read at a time: the protocol is read by one loop. */
  read(length: number): Promise<Buffer> {
    if (this.waiting) return Promise.reject(new Error('WireReader: overlapping reads'));
    if (length === 0) return Promise.resolve(Buffer.alloc(0));
    if (this.buffered >= length) return Promise.resolve(this.take(length));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = { length, resolve, reject };
    });
  }

  /** Read `into.length` bytes into `into` (a read's destination), copied once from the received chunks. */
  async readInto(into: Uint8Array): Promise<void> {
    if (into.length === 0) return;
    if (this.buffered < into.length) {
      if (this.failure) throw this.failure;
      // Wait until all of it has arrived, without joining the chunks into a buffer of their own.
      await new Promise<Buffer>((resolve, reject) => {
        this.waiting = { length: into.length, resolve, reject, deferTake: true };
        this.deliver();
      });
    }
    this.takeInto(into);
  }

  /** End every read with `error` (the first reason given wins). */
  fail(error: Error): void {
    this.failure ??= error;
    const waiting = this.waiting;
    if (waiting && this.buffered < waiting.length) {
      this.waiting = undefined;
      waiting.reject(this.failure);
    }
  }

  private deliver(): void {
    const waiting = this.waiting;
    if (!waiting || this.buffered < waiting.length) return;
    this.waiting = undefined;
    waiting.resolve(waiting.deferTake ? EMPTY : this.take(waiting.length));
  }

  private takeInto(into: Uint8Array): void {
    let filled = 0;
    while (filled < into.length) {
      const chunk = this.chunks[0]!;
      const part = Math.min(chunk.length, into.length - filled);
      into.set(part === chunk.length ? chunk : chunk.subarray(0, part), filled);
      filled += part;
      if (part === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part);
    }
    this.buffered -= into.length;
  }

  private take(length: number): Buffer {
    this.buffered -= length;
    const first = this.chunks[0]!;
    if (first.length === length) {
      this.chunks.shift();
      return first;
    }
    if (first.length > length) {
      this.chunks[0] = first.subarray(length);
      return first.subarray(0, length);
    }
    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const chunk = this.chunks[0]!;
      const part = Math.min(chunk.length, length - filled);
      chunk.copy(out, filled, 0, part);
      filled += part;
      if (part === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part);
    }
    return out;
  }
}
