// The server's side of fixed newstyle negotiation (NBD protocol document, "Option haggling"):
// options are answered until the client picks the export (GO, EXPORT_NAME) or leaves. Every
// length a client sends is checked before it is trusted; what cannot be answered ends the
// connection rather than the server.
import type { Duplex } from 'node:stream';
import type { NbdExport } from './export.ts';
import {
  FLAG_C_FIXED_NEWSTYLE,
  FLAG_C_NO_ZEROES,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  BLOCK_SIZE_MIN,
  BLOCK_SIZE_PREFERRED,
  IHAVEOPT,
  INFO_BLOCK_SIZE,
  INFO_DESCRIPTION,
  INFO_EXPORT,
  INFO_NAME,
  INIT_PASSWD,
  MAX_OPTION_LENGTH,
  MAX_PAYLOAD,
  MAX_STRING,
  OPTION_REPLY_MAGIC,
  OPT_ABORT,
  OPT_EXPORT_NAME,
  OPT_GO,
  OPT_INFO,
  OPT_LIST,
  OPT_LIST_META_CONTEXT,
  OPT_SET_META_CONTEXT,
  OPT_STARTTLS,
  OPT_STRUCTURED_REPLY,
  REP_ACK,
  REP_ERR_INVALID,
  REP_ERR_POLICY,
  REP_ERR_TLS_REQD,
  REP_ERR_TOO_BIG,
  REP_ERR_UNKNOWN,
  REP_ERR_UNSUP,
  REP_INFO,
  REP_META_CONTEXT,
  REP_SERVER,
} from './protocol.ts';
import { ConnectionClosed, type SocketReader } from './wire.ts';

/** The connection as negotiation sees it: where bytes come from and go, and how TLS starts. */
export interface NegotiatingConnection {
  readonly reader: SocketReader;
  /** The socket replies are written to (the TLS socket once TLS is on). */
  socket(): Duplex;
  /** Set when the server requires TLS: switch to it (after STARTTLS is acknowledged). */
  readonly startTls?: () => Promise<void>;
}

/** What the client chose: the export, whether replies are structured, the meta contexts (by id). */
export interface Negotiated {
  readonly export: NbdExport;
  readonly structured: boolean;
  /** Selected context names; a context's id is its index here. */
  readonly contexts: readonly string[];
}

/** Options a payload longer than this is not even read for: the connection ends. */
const MAX_SKIPPED_OPTION = MAX_PAYLOAD;

/** Negotiate with one client; undefined when it aborted or left. */
export async function negotiate(conn: NegotiatingConnection, served: NbdExport): Promise<Negotiated | undefined> {
  const greeting = Buffer.alloc(18);
  greeting.writeBigUInt64BE(INIT_PASSWD, 0);
  greeting.writeBigUInt64BE(IHAVEOPT, 8);
  greeting.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
  conn.socket().write(greeting);
  const clientFlags = (await conn.reader.read(4)).readUInt32BE(0);
  if ((clientFlags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) !== 0) throw new ConnectionClosed('unknown client flags');
  const noZeroes = (clientFlags & FLAG_C_NO_ZEROES) !== 0;
  let tlsPending = conn.startTls !== undefined;
  let structured = false;
  let contexts: string[] = [];

  for (;;) {
    const header = await conn.reader.read(16);
    if (header.readBigUInt64BE(0) !== IHAVEOPT) throw new ConnectionClosed('bad option magic');
    const option = header.readUInt32BE(8);
    const length = header.readUInt32BE(12);
    const reply = (type: number, payload: Buffer = Buffer.alloc(0)) => sendOptionReply(conn.socket(), option, type, payload);
    const refuse = (type: number, message: string) => reply(type, Buffer.from(message));

    if (option === OPT_EXPORT_NAME) {
      // No error reply exists for this option: anything wrong ends the connection.
      if (tlsPending || length > MAX_STRING) throw new ConnectionClosed('export name refused');
      const name = (await conn.reader.read(length)).toString('utf8');
      if (name !== served.settings.name) throw new ConnectionClosed(`export '${name}' not present`);
      const info = Buffer.alloc(noZeroes ? 10 : 134);
      info.writeBigUInt64BE(BigInt(served.size), 0);
      info.writeUInt16BE(served.transmissionFlags(structured), 8);
      conn.socket().write(info);
      return { export: served, structured, contexts };
    }
    if (length > MAX_OPTION_LENGTH) {
      if (length > MAX_SKIPPED_OPTION) throw new ConnectionClosed('option too long');
      await conn.reader.skip(length);
      refuse(REP_ERR_TOO_BIG, `option of ${length} bytes is too long`);
      continue;
    }
    const data = await conn.reader.read(length);
    if (option === OPT_ABORT) {
      reply(REP_ACK);
      return undefined;
    }
    if (option === OPT_STARTTLS) {
      if (!conn.startTls) refuse(REP_ERR_POLICY, 'TLS not configured');
      else if (!tlsPending) refuse(REP_ERR_INVALID, 'TLS already negotiated');
      else if (length !== 0) refuse(REP_ERR_INVALID, 'STARTTLS takes no data');
      else {
        reply(REP_ACK);
        await conn.startTls();
        tlsPending = false;
      }
      continue;
    }
    if (tlsPending) {
      refuse(REP_ERR_TLS_REQD, 'Option not permitted before TLS');
      continue;
    }
    switch (option) {
      case OPT_LIST:
        if (length !== 0) refuse(REP_ERR_INVALID, 'OPT_LIST takes no data');
        else {
          reply(REP_SERVER, serverEntry(served));
          reply(REP_ACK);
        }
        break;
      case OPT_STRUCTURED_REPLY:
        if (length !== 0) refuse(REP_ERR_INVALID, 'OPT_STRUCTURED_REPLY takes no data');
        else if (structured) refuse(REP_ERR_INVALID, 'structured reply already negotiated');
        else {
          structured = true;
          reply(REP_ACK);
        }
        break;
      case OPT_INFO:
      case OPT_GO: {
        const request = parseInfoRequest(data);
        if (!request) {
          refuse(REP_ERR_INVALID, 'malformed info request');
          break;
        }
        if (request.name !== served.settings.name) {
          refuse(REP_ERR_UNKNOWN, `export '${request.name}' not present`);
          break;
        }
        for (const info of infoReplies(served, request.infos, structured)) reply(REP_INFO, info);
        reply(REP_ACK);
        if (option === OPT_GO) return { export: served, structured, contexts };
        break;
      }
      case OPT_LIST_META_CONTEXT:
      case OPT_SET_META_CONTEXT: {
        const listing = option === OPT_LIST_META_CONTEXT;
        if (!listing && !structured) {
          refuse(REP_ERR_INVALID, 'use of structured replies not negotiated');
          break;
        }
        const request = parseContextRequest(data);
        if (!request) {
          refuse(REP_ERR_INVALID, 'malformed meta context request');
          break;
        }
        if (request.name !== served.settings.name) {
          refuse(REP_ERR_UNKNOWN, `export '${request.name}' not present`);
          break;
        }
        const matched = matchContexts(served.contexts, request.queries, listing);
        if (!listing) contexts = matched;
        matched.forEach((name, id) => reply(REP_META_CONTEXT, contextEntry(listing ? 0 : id, name)));
        reply(REP_ACK);
        break;
      }
      default:
        refuse(REP_ERR_UNSUP, `Unsupported option ${option}`);
    }
  }
}

function sendOptionReply(socket: Duplex, option: number, type: number, payload: Buffer): void {
  const header = Buffer.alloc(20);
  header.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0);
  header.writeUInt32BE(option, 8);
  header.writeUInt32BE(type >>> 0, 12);
  header.writeUInt32BE(payload.length, 16);
  socket.write(payload.length > 0 ? Buffer.concat([header, payload]) : header);
}

/** NBD_REP_SERVER's payload: the name, then the description as its details (as qemu-nbd lists). */
function serverEntry(served: NbdExport): Buffer {
  const name = Buffer.from(served.settings.name);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(name.length, 0);
  return Buffer.concat([head, name, Buffer.from(served.settings.description ?? '')]);
}

/** NBD_OPT_INFO/GO's data: name length, name, count of info requests, the requests. */
function parseInfoRequest(data: Buffer): { name: string; infos: number[] } | undefined {
  if (data.length < 6) return undefined;
  const nameLength = data.readUInt32BE(0);
  if (nameLength > MAX_STRING || 4 + nameLength + 2 > data.length) return undefined;
  const name = data.toString('utf8', 4, 4 + nameLength);
  const count = data.readUInt16BE(4 + nameLength);
  if (data.length !== 4 + nameLength + 2 + 2 * count) return undefined;
  const infos: number[] = [];
  for (let i = 0; i < count; i++) infos.push(data.readUInt16BE(4 + nameLength + 2 + 2 * i));
  return { name, infos };
}

/** The NBD_REP_INFO payloads: the export's size and flags always, block sizes always (as qemu-nbd), name and description when asked. */
function infoReplies(served: NbdExport, requested: readonly number[], structured: boolean): Buffer[] {
  const replies: Buffer[] = [];
  if (requested.includes(INFO_NAME)) {
    replies.push(Buffer.concat([u16(INFO_NAME), Buffer.from(served.settings.name)]));
  }
  if (requested.includes(INFO_DESCRIPTION) && served.settings.description !== undefined) {
    replies.push(Buffer.concat([u16(INFO_DESCRIPTION), Buffer.from(served.settings.description)]));
  }
  const sizes = Buffer.alloc(14);
  sizes.writeUInt16BE(INFO_BLOCK_SIZE, 0);
  sizes.writeUInt32BE(BLOCK_SIZE_MIN, 2);
  sizes.writeUInt32BE(BLOCK_SIZE_PREFERRED, 6);
  sizes.writeUInt32BE(MAX_PAYLOAD, 10);
  replies.push(sizes);
  const exportInfo = Buffer.alloc(12);
  exportInfo.writeUInt16BE(INFO_EXPORT, 0);
  exportInfo.writeBigUInt64BE(BigInt(served.size), 2);
  exportInfo.writeUInt16BE(served.transmissionFlags(structured), 10);
  replies.push(exportInfo);
  return replies;
}

function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value, 0);
  return b;
}

/** NBD_OPT_{LIST,SET}_META_CONTEXT's data: export name, then the queries, each length-prefixed. */
function parseContextRequest(data: Buffer): { name: string; queries: string[] } | undefined {
  if (data.length < 8) return undefined;
  const nameLength = data.readUInt32BE(0);
  if (nameLength > MAX_STRING || 4 + nameLength + 4 > data.length) return undefined;
  const name = data.toString('utf8', 4, 4 + nameLength);
  let at = 4 + nameLength;
  const count = data.readUInt32BE(at);
  at += 4;
  const queries: string[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 4 > data.length) return undefined;
    const length = data.readUInt32BE(at);
    at += 4;
    if (length > MAX_STRING || at + length > data.length) return undefined;
    queries.push(data.toString('utf8', at, at + length));
    at += length;
  }
  return at === data.length ? { name, queries } : undefined;
}

/**
 * The offered contexts the queries select. Listing: no query, or a namespace alone (`base:`),
 * selects all of it; setting takes exact names only.
 */
function matchContexts(offered: readonly string[], queries: readonly string[], listing: boolean): string[] {
  if (listing && queries.length === 0) return [...offered];
  return offered.filter((name) =>
    queries.some((query) => query === name || (listing && query.endsWith(':') && name.startsWith(query))),
  );
}

function contextEntry(id: number, name: string): Buffer {
  return Buffer.concat([(() => { const b = Buffer.alloc(4); b.writeUInt32BE(id, 0); return b; })(), Buffer.from(name)]);
}
