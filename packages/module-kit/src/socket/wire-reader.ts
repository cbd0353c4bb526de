import type { OnReadOpts, Socket } from 'node:net';

/**
 * Exact-length reads from a socket: `read(n)` resolves with the next n bytes once they have all
 * arrived, in order. When the connection ends (or is failed with `fail`), every pending and later
 * read rejects with that reason, so no caller waits for bytes that will never come.
 *
 * Two ways to be fed. Given a socket, the reader takes its 'data' events (any stream: TLS too).
 * Given none, the caller makes its socket with `reader.onread` and then calls `listen(socket)`:
 * the socket then reads straight into the buffer of a waiting `readInto` (the kernel copies a
 * reply's payload to its destination, no chunk is allocated and copied again) and otherwise into
 * one reused buffer, from which headers are copied out. An NBD client's 4 MiB reads made 64 KiB
 * 'data' chunks, one allocation and one copy each.
 */
const EMPTY = Buffer.alloc(0);
/** The reused buffer's size: headers and the first bytes of a payload land there. */
const SCRATCH_SIZE = 64 * 1024;
/** A waiting readInto with less than this left is filled from the reused buffer (no tiny reads). */
const DIRECT_MIN = 16 * 1024;

interface Waiting {
  readonly length: number;
  readonly resolve: (data: Buffer) => void;
  readonly reject: (error: Error) => void;
  /** readInto: resolve without taking the bytes (they are taken into the destination). */
  readonly deferTake?: boolean;
  /** readInto fed by `onread`: the destination, and how much of it is filled so far. */
  readonly into?: Uint8Array;
  filled?: number;
}

export class WireReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiting: Waiting | undefined;
  private failure: Error | undefined;
  /** Fed by `onread` (see the class comment). */
  private direct = false;
  private scratch: Buffer | undefined;
  /** Where the socket reads next when that is a waiting readInto's destination. */
  private target: Uint8Array | undefined;
  /** The most a read into the reused buffer takes while no readInto waits (sizeReads), 0 for no limit. */
  private sized = 0;

  /** The `onread` option to make the socket with when the reader is made without one. */
  readonly onread: OnReadOpts = {
    buffer: () => this.nextBuffer(),
    callback: (length: number, buffer: Uint8Array) => {
      this.received(length, buffer);
      return true; // never paused: replies come only for requests made
    },
  };

  constructor(
    socket: Socket | undefined,
    private readonly describeEnd: () => Error,
  ) {
    if (socket) this.listen(socket);
  }

  /** Read from `socket`: made with `this.onread` when the reader was made without a socket, else its 'data' events. */
  listen(socket: Socket, madeWithOnread = false): void {
    this.direct = madeWithOnread;
    if (!madeWithOnread) {
      socket.on('data', (data: Buffer) => {
        this.chunks.push(data);
        this.buffered += data.length;
        this.deliver();
      });
    }
    socket.on('end', () => this.fail(this.describeEnd()));
    socket.on('close', () => this.fail(this.describeEnd()));
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
    if (this.direct && this.buffered < into.length) {
      if (this.waiting) throw new Error('WireReader: overlapping reads');
      if (this.failure) throw this.failure;
      // What has arrived goes in now; the socket reads the rest straight into `into` (nextBuffer).
      const filled = this.buffered;
      if (filled > 0) this.takeInto(into.subarray(0, filled));
      await new Promise<Buffer>((resolve, reject) => {
        this.waiting = { length: into.length, resolve, reject, deferTake: true, into, filled };
      });
      return;
    }
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

  /**
   * When fed by `onread`: until called again (0: stop), a read into the reused buffer while no
   * readInto waits takes at most `length` bytes. For a protocol whose headers of that length are
   * followed by payloads that go to readInto: a header read alone leaves the payload to reads
   * straight into its destination, where a full read of the reused buffer would take up to 64 KiB
   * of the payload along, copied out and then copied again. (Node asks for the next buffer right
   * after a read's callback, before the reader of the header has asked for the payload: the read
   * after a header is short too, and the ones after it land in the destination.) Worth it only
   * while payloads are due: a short read costs a syscall.
   */
  sizeReads(length: number): void {
    this.sized = length;
  }

  /** End every read with `error` (the first reason given wins). */
  fail(error: Error): void {
    this.failure ??= error;
    const waiting = this.waiting;
    if (waiting && (waiting.into ? waiting.filled! < waiting.length : this.buffered < waiting.length)) {
      this.waiting = undefined;
      waiting.reject(this.failure);
    }
  }

  /** Where the socket's next read goes: the rest of a waiting readInto's destination, or the reused buffer. */
  private nextBuffer(): Uint8Array {
    const waiting = this.waiting;
    if (waiting?.into && waiting.length - waiting.filled! >= DIRECT_MIN) {
      this.target = waiting.into.subarray(waiting.filled);
      return this.target;
    }
    this.target = undefined;
    const scratch = (this.scratch ??= Buffer.allocUnsafe(SCRATCH_SIZE));
    return this.sized > 0 && !waiting?.into ? scratch.subarray(0, Math.min(this.sized, SCRATCH_SIZE)) : scratch;
  }

  /** `length` bytes arrived in `buffer` (nextBuffer's answer). */
  private received(length: number, buffer: Uint8Array): void {
    const waiting = this.waiting;
    let used = 0;
    if (waiting?.into) {
      // Straight into the destination (buffer is its rest), or copied there from the reused buffer.
      used = Math.min(length, waiting.length - waiting.filled!);
      if (buffer !== this.target) waiting.into.set(buffer.subarray(0, used), waiting.filled);
      waiting.filled! += used;
      if (waiting.filled === waiting.length) {
        this.waiting = undefined;
        waiting.resolve(EMPTY);
      }
    }
    if (used < length) {
      // Kept for later reads: copied out, as the reused buffer is read into again.
      this.chunks.push(Buffer.from(buffer.subarray(used, length)));
      this.buffered += length - used;
      this.deliver();
    }
  }

  private deliver(): void {
    const waiting = this.waiting;
    if (!waiting || waiting.into || this.buffered < waiting.length) return;
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
