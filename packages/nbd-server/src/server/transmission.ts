// The transmission phase: requests read one after another, served concurrently (a bounded number
// at a time), each answered with a simple reply or structured chunks. A request the export cannot
// serve gets an errno; a client that breaks the framing (bad magic, a write payload too big to
// read) is disconnected; neither stops the server.
import type { Duplex } from 'node:stream';
import { RequestError, type NbdExport } from './export.ts';
import type { Negotiated } from './handshake.ts';
import {
  CMD_BLOCK_STATUS,
  CMD_CACHE,
  CMD_DISC,
  CMD_FLAG_DF,
  CMD_FLAG_FAST_ZERO,
  CMD_FLAG_FUA,
  CMD_FLAG_NO_HOLE,
  CMD_FLAG_REQ_ONE,
  CMD_FLUSH,
  CMD_READ,
  CMD_TRIM,
  CMD_WRITE,
  CMD_WRITE_ZEROES,
  MAX_PAYLOAD,
  NBD_EINVAL,
  NBD_EIO,
  NBD_ENOSPC,
  NBD_EPERM,
  NBD_ENOTSUP,
  REPLY_FLAG_DONE,
  REPLY_TYPE_BLOCK_STATUS,
  REPLY_TYPE_ERROR,
  REPLY_TYPE_NONE,
  REPLY_TYPE_OFFSET_DATA,
  REPLY_TYPE_OFFSET_HOLE,
  REQUEST_MAGIC,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
} from './protocol.ts';
import { ReadBatcher } from './read-batch.ts';
import { ConnectionClosed, type SocketReader } from './wire.ts';

/**
 * Requests served at once per connection, and the bytes their data may hold (a client pipelining
 * more waits for a slot): as many as nbdcopy keeps in flight, in bounded memory.
 */
const MAX_IN_FLIGHT = 64;
const MAX_IN_FLIGHT_BYTES = 64 * 1024 * 1024;
/** Block status extents in one reply, as qemu-nbd's bound (1 MiB of descriptors). */
const MAX_EXTENTS = (1024 * 1024) / 8;


/** Reply bytes queued for a client before its requests are no longer read. */
const MAX_UNREAD_REPLIES = 64 * 1024 * 1024;

const FLAGS_ALLOWED: Readonly<Record<number, number>> = {
  [CMD_READ]: CMD_FLAG_DF,
  [CMD_WRITE]: CMD_FLAG_FUA,
  [CMD_DISC]: 0,
  [CMD_FLUSH]: 0,
  [CMD_TRIM]: CMD_FLAG_FUA,
  [CMD_CACHE]: 0,
  [CMD_WRITE_ZEROES]: CMD_FLAG_FUA | CMD_FLAG_NO_HOLE | CMD_FLAG_FAST_ZERO,
  [CMD_BLOCK_STATUS]: CMD_FLAG_REQ_ONE,
};

interface Request {
  readonly flags: number;
  readonly type: number;
  /** The client's handle, echoed as given. */
  readonly cookie: Buffer;
  readonly offset: number;
  readonly length: number;
  payload?: Buffer;
}

/** Serve requests until the client disconnects (NBD_CMD_DISC, or its socket closes). */
export async function transmit(reader: SocketReader, socket: () => Duplex, session: Negotiated): Promise<void> {
  const replies = new Replies(socket, session.structured);
  const reads = new ReadBatcher(session.export, replies);
  const slots = new Slots();
  try {
    for (;;) {
      // A client that sends requests without reading the replies stops being read.
      if (replies.backlog() > MAX_UNREAD_REPLIES) await replies.drained();
      const header = await reader.read(28);
      if (header.readUInt32BE(0) !== REQUEST_MAGIC) throw new ConnectionClosed('bad request magic');
      const request: Request = {
        flags: header.readUInt16BE(4),
        type: header.readUInt16BE(6),
        // The client's handle, kept apart from the read buffer it arrived in.
        cookie: Buffer.from(header.subarray(8, 16)),
        offset: Number(header.readBigUInt64BE(16)),
        length: header.readUInt32BE(24),
      };
      const { type, length } = request;
      if (type === CMD_DISC) break;
      if (type === CMD_WRITE) {
        if (length > MAX_PAYLOAD) {
          // Its payload cannot be skipped safely: refuse it and end the connection, as the framing is lost.
          replies.error(request, NBD_EINVAL, `write of ${length} bytes is larger than ${MAX_PAYLOAD}`);
          throw new ConnectionClosed('oversized write');
        }
        request.payload = await reader.read(length);
      }
      const bytes = type === CMD_READ || type === CMD_WRITE ? Math.min(length, MAX_PAYLOAD) : 0;
      if (!slots.free(bytes)) await slots.wait(bytes);
      slots.take(bytes);
      const done = () => slots.give(bytes);
      void serve(session, replies, reads, request).then(done, done);
    }
  } finally {
    await slots.idle();
    reads.close();
  }
}

/**
 * Requests being served and the bytes their data may hold: at most MAX_IN_FLIGHT and
 * MAX_IN_FLIGHT_BYTES (one request is always let in). A counter and one waiter rather than
 * racing the promises in flight: that attached a handler to each of them per request.
 */
class Slots {
  private count = 0;
  private bytes = 0;
  private waiter: { bytes: number; resolve: () => void } | undefined;

  free(bytes: number): boolean {
    return this.count === 0 || (this.count < MAX_IN_FLIGHT && this.bytes + bytes <= MAX_IN_FLIGHT_BYTES);
  }

  wait(bytes: number): Promise<void> {
    return new Promise((resolve) => (this.waiter = { bytes, resolve }));
  }

  take(bytes: number): void {
    this.count++;
    this.bytes += bytes;
  }

  give(bytes: number): void {
    this.count--;
    this.bytes -= bytes;
    const waiter = this.waiter;
    if (waiter && this.free(waiter.bytes)) {
      this.waiter = undefined;
      waiter.resolve();
    }
    if (this.count === 0) this.idled?.();
  }

  private idled: (() => void) | undefined;

  /** Resolves once nothing is in flight (the request loop has stopped adding). */
  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => (this.idled = resolve));
  }
}

async function serve(session: Negotiated, replies: Replies, reads: ReadBatcher<Request>, request: Request): Promise<void> {
  try {
    const image = session.export;
    check(request, image, session.structured);
    switch (request.type) {
      case CMD_READ:
        return await reads.read(request, session.structured && (request.flags & CMD_FLAG_DF) === 0);
      case CMD_WRITE:
        await image.write(request.offset, request.payload!, (request.flags & CMD_FLAG_FUA) !== 0);
        break;
      case CMD_WRITE_ZEROES:
        await image.writeZeroes(request.offset, request.length, {
          noHole: (request.flags & CMD_FLAG_NO_HOLE) !== 0,
          fast: (request.flags & CMD_FLAG_FAST_ZERO) !== 0,
          fua: (request.flags & CMD_FLAG_FUA) !== 0,
        });
        break;
      case CMD_TRIM:
        await image.trim(request.offset, request.length, (request.flags & CMD_FLAG_FUA) !== 0);
        break;
      case CMD_FLUSH:
        await image.flush();
        break;
      case CMD_CACHE:
        break; // a hint: the image is read when it is asked for
      case CMD_BLOCK_STATUS:
        return await blockStatus(image, replies, request, session.contexts);
    }
    replies.done(request);
  } catch (error) {
    if (error instanceof RequestError) replies.error(request, error.errno, error.message);
    else replies.error(request, errnoOf(error), error instanceof Error ? error.message : String(error));
  }
}

/** Refuse what no export serves: unknown commands and flags, ranges past the end, oversized reads. */
function check(request: Request, image: NbdExport, structured: boolean): void {
  const allowed = FLAGS_ALLOWED[request.type];
  if (allowed === undefined) throw new RequestError(NBD_EINVAL, `unknown command ${request.type}`);
  if ((request.flags & ~allowed) !== 0) throw new RequestError(NBD_EINVAL, `unsupported flags 0x${request.flags.toString(16)}`);
  if (request.type === CMD_BLOCK_STATUS && !structured) throw new RequestError(NBD_EINVAL, 'block status needs structured replies');
  if (request.type === CMD_READ && request.length > MAX_PAYLOAD) {
    throw new RequestError(NBD_EINVAL, `len (${request.length}) is larger than max len (${MAX_PAYLOAD})`);
  }
  if (request.type !== CMD_FLUSH && request.offset + request.length > image.size) {
    throw new RequestError(NBD_EINVAL, 'operation past EOF');
  }
}

async function blockStatus(image: NbdExport, replies: Replies, request: Request, contexts: readonly string[]): Promise<void> {
  if (contexts.length === 0) throw new RequestError(NBD_EINVAL, 'no meta context was selected');
  const maxRuns = (request.flags & CMD_FLAG_REQ_ONE) !== 0 ? 1 : MAX_EXTENTS;
  const length = request.length === 0 ? 0 : request.length;
  if (length === 0) throw new RequestError(NBD_EINVAL, 'block status of no bytes');
  const answers = await Promise.all(contexts.map((name) => image.status(name, request.offset, length, maxRuns)));
  answers.forEach((runs, id) => replies.status(request, id, runs, id === answers.length - 1));
}

/** The errno a failure of the block layer is reported with. */
function errnoOf(error: unknown): number {
  for (let at = error; at instanceof Error; at = at.cause) {
    const code = (at as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return NBD_ENOSPC;
    if (code === 'EPERM' || code === 'EACCES' || code === 'EROFS') return NBD_EPERM;
    if (code === 'ENOTSUP' || code === 'unsupported-operation') return NBD_ENOTSUP;
  }
  return NBD_EIO;
}

/** Writes replies; each reply (or chunk) goes out in one write, so concurrent requests' chunks never interleave inside one. */
class Replies {
  constructor(
    private readonly socket: () => Duplex,
    readonly structured: boolean,
  ) {}

  /** Bytes of replies waiting for the socket to take them: 0 while it takes writes, or once it is gone. */
  backlog(): number {
    const socket = this.socket();
    // Counted only while a 'drain' is due (a write found the buffer full), so a wait for drained() always ends.
    return socket.destroyed || !socket.writableNeedDrain ? 0 : socket.writableLength;
  }

  private draining: Promise<void> | undefined;

  /** Resolves once the socket takes writes again (at once when it takes them, or is gone). */
  drained(): Promise<void> {
    const socket = this.socket();
    if (socket.destroyed || !socket.writableNeedDrain) return Promise.resolve();
    return (this.draining ??= new Promise((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        this.draining = undefined;
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    }));
  }

  simple(request: Request, errno: number, data?: Buffer, sent?: () => void): void {
    const header = Buffer.alloc(16);
    header.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
    header.writeUInt32BE(errno, 4);
    request.cookie.copy(header, 8);
    this.send(header, errno === 0 ? data : undefined, sent);
  }

  done(request: Request): void {
    if (this.structured) this.send(this.chunkHeader(request, REPLY_FLAG_DONE, REPLY_TYPE_NONE, 0, 0));
    else this.simple(request, 0);
  }

  error(request: Request, errno: number, message: string): void {
    if (!this.structured) return this.simple(request, errno);
    const text = Buffer.from(message.slice(0, 4096));
    const head = this.chunkHeader(request, REPLY_FLAG_DONE, REPLY_TYPE_ERROR, 6 + text.length, 6);
    head.writeUInt32BE(errno, 20);
    head.writeUInt16BE(text.length, 24);
    this.send(head, text);
  }

  /** `sent`: called once the data has left (its buffer may be reused). */
  data(request: Request, offset: number, data: Buffer, last: boolean, sent?: () => void): void {
    const head = this.chunkHeader(request, last ? REPLY_FLAG_DONE : 0, REPLY_TYPE_OFFSET_DATA, 8 + data.length, 8);
    head.writeBigUInt64BE(BigInt(offset), 20);
    this.send(head, data, sent);
  }

  hole(request: Request, offset: number, length: number, last: boolean, sent?: () => void): void {
    const head = this.chunkHeader(request, last ? REPLY_FLAG_DONE : 0, REPLY_TYPE_OFFSET_HOLE, 12, 12);
    head.writeBigUInt64BE(BigInt(offset), 20);
    head.writeUInt32BE(length, 28);
    this.send(head, undefined, sent);
  }

  status(request: Request, contextId: number, runs: ReadonlyArray<{ length: number; flags: number }>, last: boolean): void {
    const payload = 4 + 8 * runs.length;
    const head = this.chunkHeader(request, last ? REPLY_FLAG_DONE : 0, REPLY_TYPE_BLOCK_STATUS, payload, payload);
    head.writeUInt32BE(contextId, 20);
    runs.forEach((run, i) => {
      head.writeUInt32BE(run.length, 24 + 8 * i);
      head.writeUInt32BE(run.flags, 28 + 8 * i);
    });
    this.send(head);
  }

  /**
   * A structured chunk's header for a payload of `length` bytes, with room after it for the
   * first `room` bytes of that payload (the caller fills them): header and small payloads go
   * out as one buffer, without joining two.
   */
  private chunkHeader(request: Request, flags: number, type: number, length: number, room: number): Buffer {
    const header = Buffer.allocUnsafe(20 + room);
    header.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
    header.writeUInt16BE(flags, 4);
    header.writeUInt16BE(type, 6);
    request.cookie.copy(header, 8);
    header.writeUInt32BE(length, 16);
    return header;
  }

  /** `sent` runs once everything written so far has left, or the socket is gone (never before). */
  private send(head: Buffer, data?: Buffer, sent?: () => void): void {
    const socket = this.socket();
    if (socket.destroyed) {
      sent?.();
      return;
    }
    const done = sent ? () => sent() : undefined;
    // Two writes in one tick go out back to back: nothing else is written between them; corked,
    // they leave in one system call.
    if (!data || data.length === 0) {
      socket.write(head, done);
      return;
    }
    socket.cork();
    socket.write(head);
    socket.write(data, done);
    socket.uncork();
  }
}
