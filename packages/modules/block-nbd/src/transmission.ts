import type { Socket } from 'node:net';
import * as C from './constants.ts';
import { nbdError, type NbdErrorCode } from './errors.ts';
import type { ExportInfo } from './handshake.ts';
import { corkForTick } from '@tessera/module-kit/socket/cork-for-tick';
import type { WireReader } from '@tessera/module-kit/socket/wire-reader';

/** One extent of block status: `length` bytes with base:allocation `flags`. */
export interface Extent {
  readonly length: number;
  readonly flags: number;
}

interface Pending {
  readonly command: number;
  readonly offset: number;
  readonly length: number;
  /** A read's destination. */
  readonly into?: Uint8Array;
  /** Bytes of a read the chunks covered so far. */
  covered: number;
  allocation?: Extent[];
  /** An error chunk arrived: the request fails when its last chunk does. */
  serverError?: string;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** Requests in flight at once: enough to keep a link busy, bounded so memory stays bounded. */
const MAX_IN_FLIGHT = 16;
/** An error message chunk is a string (at most 4096 bytes) and a few fields. */
const MAX_ERROR_CHUNK = 6 + C.MAX_STRING + 8;
/** Extents in one block status chunk accepted at most (a 32 MiB request at 256-byte granularity). */
const MAX_EXTENTS = 1 << 17;
/** What comes before a read's data: a structured data chunk's magic, header and offset; a simple reply's magic and header. */
const STRUCTURED_DATA_PREFIX = 4 + 16 + 8;
const SIMPLE_REPLY_PREFIX = 4 + 12;

/**
 * The transmission phase: requests are sent as they come (several in flight, each with its own
 * cookie), and one loop reads the replies, matching each to its request by cookie. Every length,
 * offset and count in a reply is checked against its request; a violation, a deadline passed or
 * the connection lost fails every request in flight and the connection with them.
 */
export class Transmission {
  private readonly pending = new Map<bigint, Pending>();
  private nextCookie = 1n;
  private broken: Error | undefined;
  private inFlight = 0;
  /** Reads in flight: while there are, replies' headers are read on their own (WireReader.sizeReads). */
  private readsInFlight = 0;
  private readonly slots: (() => void)[] = [];

  constructor(
    private readonly socket: Socket,
    private readonly reader: WireReader,
    readonly info: ExportInfo,
    private readonly shownUrl: string,
    private readonly timeoutMs: number,
  ) {
    void this.replyLoop();
  }

  /** Send one request and wait for its whole reply. */
  async request(command: number, flags: number, offset: number, length: number, payload?: Uint8Array, into?: Uint8Array): Promise<{ allocation?: Extent[] }> {
    await this.slot();
    try {
      if (this.broken) throw this.broken;
      const cookie = this.nextCookie++;
      const header = Buffer.alloc(28);
      header.writeUInt32BE(C.REQUEST_MAGIC, 0);
      header.writeUInt16BE(flags, 4);
      header.writeUInt16BE(command, 6);
      header.writeBigUInt64BE(cookie, 8);
      header.writeBigUInt64BE(BigInt(offset), 16);
      header.writeUInt32BE(length, 24);
      let entry!: Pending;
      const done = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => this.breakWith(nbdError(`${this.shownUrl}: the server did not answer within ${this.timeoutMs / 1000} s (timeout=${this.timeoutMs / 1000})`, 'nbd-timeout')),
          this.timeoutMs,
        );
        entry = { command, offset, length, into, covered: 0, resolve, reject, timer };
      });
      this.pending.set(cookie, entry);
      if (command === C.CMD_READ) this.readsInFlight++;
      // Header and payload as two writes, corked: a payload is not copied, and the requests made
      // in one turn of the event loop (the parts of one large read or write) leave in one writev.
      corkForTick(this.socket);
      this.socket.write(header);
      if (payload) this.socket.write(payload);
      await done;
      return { allocation: entry.allocation };
    } finally {
      this.release();
    }
  }

  /** Send NBD_CMD_DISC and end the connection (nothing is in flight at close). */
  async disconnect(): Promise<void> {
    if (!this.broken) {
      const header = Buffer.alloc(28);
      header.writeUInt32BE(C.REQUEST_MAGIC, 0);
      header.writeUInt16BE(C.CMD_DISC, 6);
      header.writeBigUInt64BE(this.nextCookie++, 8);
      await new Promise<void>((resolve) => this.socket.end(header, () => resolve()));
    }
    this.breakWith(nbdError(`${this.shownUrl}: the connection is closed`, 'nbd-disconnected'));
    this.socket.destroy();
  }

  /** Fail the connection: every request in flight, and every later one, fails with `error`. */
  breakWith(error: Error): void {
    if (!this.broken) this.broken = error;
    this.reader.fail(this.broken);
    for (const [cookie, entry] of this.pending) {
      clearTimeout(entry.timer);
      entry.reject(this.broken);
      this.pending.delete(cookie);
    }
    this.socket.destroy();
  }

  private async slot(): Promise<void> {
    if (this.inFlight < MAX_IN_FLIGHT) {
      this.inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.slots.push(resolve));
  }

  private release(): void {
    const next = this.slots.shift();
    if (next) next();
    else this.inFlight--;
  }

  private protocolError(why: string): Error {
    return nbdError(`${this.shownUrl}: the server broke the NBD protocol: ${why}`, 'nbd-protocol');
  }

  private async replyLoop(): Promise<void> {
    try {
      for (;;) {
        // While read data is due, a reply's header is read alone, so that its payload lands in the
        // read's buffer rather than in the reused one, to be copied out and then copied again.
        this.reader.sizeReads(this.readsInFlight === 0 ? 0 : this.info.structuredReplies ? STRUCTURED_DATA_PREFIX : SIMPLE_REPLY_PREFIX);
        const magic = (await this.reader.read(4)).readUInt32BE(0);
        if (magic === C.SIMPLE_REPLY_MAGIC) await this.simpleReply();
        else if (magic === C.STRUCTURED_REPLY_MAGIC && this.info.structuredReplies) await this.structuredChunk();
        else throw this.protocolError(`a reply with the unknown magic 0x${magic.toString(16)}`);
      }
    } catch (error) {
      // The TLS layer's failures do not know the URL yet.
      const e = error as Error & { code?: NbdErrorCode };
      this.breakWith(e.message.startsWith(this.shownUrl) ? e : nbdError(`${this.shownUrl}: ${e.message}`, e.code ?? 'nbd-disconnected', e));
    }
  }

  private take(cookie: bigint): Pending {
    const entry = this.pending.get(cookie);
    if (!entry) throw this.protocolError(`a reply to cookie ${cookie}, which no request in flight has`);
    return entry;
  }

  private finish(cookie: bigint, entry: Pending, error?: Error): void {
    this.pending.delete(cookie);
    if (entry.command === C.CMD_READ) this.readsInFlight--;
    clearTimeout(entry.timer);
    if (error) entry.reject(error);
    else entry.resolve();
  }

  private async simpleReply(): Promise<void> {
    const rest = await this.reader.read(12);
    const errno = rest.readUInt32BE(0);
    const cookie = rest.readBigUInt64BE(4);
    const entry = this.take(cookie);
    if (errno !== 0) return this.finish(cookie, entry, this.serverError(entry, describeErrno(errno)));
    if (entry.command === C.CMD_READ) {
      // With structured replies negotiated, a successful read must come as chunks (proto.md).
      if (this.info.structuredReplies) throw this.protocolError('a simple reply to a read after structured replies were negotiated');
      await this.reader.readInto(entry.into!);
    }
    if (entry.command === C.CMD_BLOCK_STATUS) throw this.protocolError('a simple reply to a block status request');
    this.finish(cookie, entry);
  }

  private async structuredChunk(): Promise<void> {
    const header = await this.reader.read(16);
    const flags = header.readUInt16BE(0);
    const type = header.readUInt16BE(2);
    const cookie = header.readBigUInt64BE(4);
    const length = header.readUInt32BE(12);
    const entry = this.take(cookie);
    switch (type) {
      case C.REPLY_TYPE_NONE:
        if (length !== 0 || !(flags & C.REPLY_FLAG_DONE)) throw this.protocolError('an NBD_REPLY_TYPE_NONE chunk with a payload or not last');
        break;
      case C.REPLY_TYPE_OFFSET_DATA:
        await this.dataChunk(entry, length);
        break;
      case C.REPLY_TYPE_OFFSET_HOLE:
        this.holeChunk(entry, length, await this.reader.read(this.exactly(length, 12, 'NBD_REPLY_TYPE_OFFSET_HOLE')));
        break;
      case C.REPLY_TYPE_BLOCK_STATUS:
        this.statusChunk(entry, await this.reader.read(this.statusLength(entry, length)));
        break;
      case C.REPLY_TYPE_ERROR:
      case C.REPLY_TYPE_ERROR_OFFSET:
        this.errorChunk(entry, type, await this.reader.read(this.errorLength(length)));
        break;
      default:
        throw this.protocolError(`a reply chunk of unknown type ${type}`);
    }
    if (flags & C.REPLY_FLAG_DONE) this.complete(cookie, entry);
  }

  /** The last chunk arrived: the request succeeded if every part of it was answered. */
  private complete(cookie: bigint, entry: Pending): void {
    if (entry.serverError !== undefined) return this.finish(cookie, entry, this.serverError(entry, entry.serverError));
    if (entry.command === C.CMD_READ && entry.covered !== entry.length) {
      throw this.protocolError(`the reply to a read of ${entry.length} bytes at offset ${entry.offset} covered ${entry.covered} bytes`);
    }
    if (entry.command === C.CMD_BLOCK_STATUS && entry.allocation === undefined) {
      throw this.protocolError(`the reply to a block status request at offset ${entry.offset} carried no status`);
    }
    this.finish(cookie, entry);
  }

  private exactly(length: number, expected: number, what: string): number {
    if (length !== expected) throw this.protocolError(`${what} of ${length} bytes (it is ${expected})`);
    return length;
  }

  /** Where a data or hole chunk lands in the read's buffer, checked to lie inside the request. */
  private place(entry: Pending, offset: bigint, length: number, what: string): number {
    const start = offset - BigInt(entry.offset);
    if (entry.command !== C.CMD_READ || start < 0n || start + BigInt(length) > BigInt(entry.length) || length === 0) {
      throw this.protocolError(`${what} of ${length} bytes at offset ${offset}, outside the read of ${entry.length} bytes at offset ${entry.offset}`);
    }
    entry.covered += length;
    if (entry.covered > entry.length) throw this.protocolError(`more data than the ${entry.length} bytes read at offset ${entry.offset}`);
    return Number(start);
  }

  private async dataChunk(entry: Pending, length: number): Promise<void> {
    if (length <= 8) throw this.protocolError(`an NBD_REPLY_TYPE_OFFSET_DATA chunk of ${length} bytes`);
    const offset = (await this.reader.read(8)).readBigUInt64BE(0);
    const start = this.place(entry, offset, length - 8, 'NBD_REPLY_TYPE_OFFSET_DATA');
    await this.reader.readInto(entry.into!.subarray(start, start + length - 8));
  }

  private holeChunk(entry: Pending, _length: number, payload: Buffer): void {
    const size = payload.readUInt32BE(8);
    const start = this.place(entry, payload.readBigUInt64BE(0), size, 'NBD_REPLY_TYPE_OFFSET_HOLE');
    entry.into!.fill(0, start, start + size);
  }

  private statusLength(entry: Pending, length: number): number {
    if (entry.command !== C.CMD_BLOCK_STATUS) throw this.protocolError('block status in the reply to another request');
    if (length < 12 || (length - 4) % 8 !== 0 || (length - 4) / 8 > MAX_EXTENTS) {
      throw this.protocolError(`an NBD_REPLY_TYPE_BLOCK_STATUS chunk of ${length} bytes`);
    }
    return length;
  }

  private statusChunk(entry: Pending, payload: Buffer): void {
    const id = payload.readUInt32BE(0);
    const { allocation } = this.info.contexts;
    const extents: Extent[] = [];
    for (let at = 4; at < payload.length; at += 8) {
      const length = payload.readUInt32BE(at);
      if (length === 0) throw this.protocolError('a block status extent of 0 bytes');
      extents.push({ length, flags: payload.readUInt32BE(at + 4) });
    }
    if (id === allocation && entry.allocation === undefined) entry.allocation = extents;
    else throw this.protocolError(`block status for metadata context ${id}, which was not negotiated (or sent twice)`);
  }

  private errorLength(length: number): number {
    if (length < 6 || length > MAX_ERROR_CHUNK) throw this.protocolError(`an error chunk of ${length} bytes`);
    return length;
  }

  private errorChunk(entry: Pending, type: number, payload: Buffer): void {
    const errno = payload.readUInt32BE(0);
    const messageLength = payload.readUInt16BE(4);
    const expected = 6 + messageLength + (type === C.REPLY_TYPE_ERROR_OFFSET ? 8 : 0);
    if (payload.length !== expected) throw this.protocolError(`an error chunk of ${payload.length} bytes whose message says ${expected}`);
    if (errno === 0) throw this.protocolError('an error chunk with error 0');
    const message = payload.subarray(6, 6 + messageLength).toString().replace(/[\x00-\x1f]/g, ' ');
    entry.serverError ??= message ? `${describeErrno(errno)} (server reported: ${message})` : describeErrno(errno);
  }

  private serverError(entry: Pending, why: string): Error {
    const code: NbdErrorCode = 'nbd-server-error';
    return nbdError(`${this.shownUrl}: ${COMMAND_NAMES[entry.command] ?? 'request'} of ${entry.length} bytes at offset ${entry.offset} failed: ${why}`, code);
  }
}

const COMMAND_NAMES: Readonly<Record<number, string>> = {
  [C.CMD_READ]: 'read',
  [C.CMD_WRITE]: 'write',
  [C.CMD_FLUSH]: 'flush',
  [C.CMD_TRIM]: 'trim',
  [C.CMD_WRITE_ZEROES]: 'write-zeroes',
  [C.CMD_BLOCK_STATUS]: 'block status',
};

function describeErrno(errno: number): string {
  return C.SERVER_ERRORS[errno] ?? `error ${errno}`;
}
