import type { Socket } from 'node:net';
import * as C from './constants.ts';
import { nbdError } from './errors.ts';
import type { WireReader } from '@tessera/module-kit/socket/wire-reader';

/** The connection the handshake speaks on; after NBD_OPT_STARTTLS, its TLS layer. */
export interface Channel {
  readonly socket: Socket;
  readonly reader: WireReader;
}

/** Runs the TLS handshake on the plain channel once the server has acknowledged NBD_OPT_STARTTLS. */
export type StartTls = (plain: Channel) => Promise<Channel>;

/** What the client asks for beyond the export: TLS, and the metadata context block status reads. */
export interface Negotiation {
  readonly startTls?: StartTls;
  /**
   * The context whose extents block status reports, read as base:allocation's flags (qemu's
   * `x-dirty-bitmap`: `qemu:allocation-depth`, `qemu:dirty-bitmap:NAME`); default base:allocation.
   */
  readonly allocationContext?: string;
}

/** What the server told about the export in the handshake. */
export interface ExportInfo {
  readonly size: number;
  readonly transmissionFlags: number;
  readonly structuredReplies: boolean;
  /** The metadata context id the server gave for the context block status reads (base:allocation, or x-dirty-bitmap's). */
  readonly contexts: { readonly allocation?: number };
  /** Block size constraints (defaults 1 / 4096 / 32 MiB when the server sends none, as proto.md says). */
  readonly minimumBlock: number;
  readonly preferredBlock: number;
  readonly maximumBlock: number;
}

/** Largest option reply payload accepted: an NBD_REP_SERVER or NBD_REP_INFO is a name and a few fields. */
const MAX_OPTION_REPLY = 4 + C.MAX_STRING + 4096;
/** Exports listed at most for the "no such export" message (a server could list millions). */
const MAX_LISTED_EXPORTS = 1000;
const DEFAULT_MAXIMUM_BLOCK = 32 * 1024 * 1024;

interface OptionReply {
  readonly type: number;
  readonly data: Buffer;
}

/**
 * Fixed newstyle negotiation (proto.md "Handshake"): NO_ZEROES when offered, NBD_OPT_STARTTLS
 * first when TLS is configured (everything after it goes over TLS), structured replies, the
 * `base:allocation` metadata context (or x-dirty-bitmap's), then NBD_OPT_GO with NBD_INFO_BLOCK_SIZE. Every field the
 * server sends is checked. Returns the export and the channel the transmission uses.
 */
export async function negotiate(
  plain: Channel,
  exportName: string,
  fail: (why: string, code?: Parameters<typeof nbdError>[1]) => never,
  { startTls, allocationContext = 'base:allocation' }: Negotiation = {},
): Promise<{ readonly info: ExportInfo; readonly channel: Channel }> {
  const { socket, reader } = plain;
  const greeting = await reader.read(18);
  if (greeting.readBigUInt64BE(0) !== C.INIT_PASSWD) fail('the server did not greet as an NBD server (no NBDMAGIC)', 'nbd-protocol');
  const magic = greeting.readBigUInt64BE(8);
  if (magic === C.OLDSTYLE_MAGIC) fail('the server speaks only the old-style NBD handshake, which has no export names; use a newstyle server', 'unsupported-feature');
  if (magic !== C.IHAVEOPT) fail('the server sent an unknown handshake magic', 'nbd-protocol');
  const serverFlags = greeting.readUInt16BE(16);
  if (!(serverFlags & C.FLAG_FIXED_NEWSTYLE)) fail('the server does not offer the fixed newstyle handshake', 'unsupported-feature');
  const noZeroes = (serverFlags & C.FLAG_NO_ZEROES) !== 0;
  const clientFlags = Buffer.alloc(4);
  clientFlags.writeUInt32BE(C.FLAG_C_FIXED_NEWSTYLE | (noZeroes ? C.FLAG_C_NO_ZEROES : 0));
  socket.write(clientFlags);

  let channel = plain;
  if (startTls) {
    const starting = new OptionChannel(socket, reader, fail);
    starting.send(C.OPT_STARTTLS, Buffer.alloc(0));
    const reply = await starting.reply(C.OPT_STARTTLS);
    if (reply.type === C.REP_ERR_UNSUP || reply.type === C.REP_ERR_POLICY) fail('Server don\'t support STARTTLS option (it is not configured for TLS; leave tls-creds out)', 'nbd-tls');
    if (reply.type !== C.REP_ACK) starting.optionError(reply);
    channel = await startTls(plain);
  }
  const options = new OptionChannel(channel.socket, channel.reader, fail);
  const structured = await options.simple(C.OPT_STRUCTURED_REPLY, Buffer.alloc(0));
  const contexts = structured ? await options.setMetaContexts(exportName, allocationContext) : {};
  if (allocationContext !== 'base:allocation' && !('unknown' in contexts) && contexts.allocation === undefined) {
    fail(`the server does not offer the metadata context '${allocationContext}' (x-dirty-bitmap)`, 'unsupported-feature');
  }
  const go = 'unknown' in contexts ? contexts : await options.go(exportName);
  if (go === 'unsupported') return { info: await options.exportName(exportName, noZeroes, structured, contexts as ExportInfo['contexts']), channel };
  if ('unknown' in go) {
    // qemu-img says "Requested export not available" and the server's words; the list of what
    // the server has (NBD_OPT_LIST) tells the user what to type instead.
    const listed = await options.list().catch(() => undefined);
    options.abort();
    const has = listed === undefined ? '' : listed.length === 0 ? ' (the server lists no exports)' : ` (the server has: ${listed.map((n) => `'${n}'`).join(', ')})`;
    const reported = go.unknown || `export '${exportName}' not present`;
    fail(`Requested export not available: server reported: ${reported}${has}`, 'nbd-no-export');
  }
  return { info: { ...go, structuredReplies: structured, contexts: contexts as ExportInfo['contexts'] }, channel };
}

/** One option at a time: request, then its replies, each checked against what was asked. */
class OptionChannel {
  constructor(
    private readonly socket: Socket,
    private readonly reader: WireReader,
    private readonly fail: (why: string, code?: Parameters<typeof nbdError>[1]) => never,
  ) {}

  send(option: number, data: Buffer): void {
    const header = Buffer.alloc(16);
    header.writeBigUInt64BE(C.IHAVEOPT, 0);
    header.writeUInt32BE(option, 8);
    header.writeUInt32BE(data.length, 12);
    this.socket.write(Buffer.concat([header, data]));
  }

  async reply(option: number): Promise<OptionReply> {
    const header = await this.reader.read(20);
    if (header.readBigUInt64BE(0) !== C.OPTION_REPLY_MAGIC) this.fail('the server sent an option reply with a wrong magic', 'nbd-protocol');
    if (header.readUInt32BE(8) !== option) this.fail(`the server answered option ${header.readUInt32BE(8)} when option ${option} was asked`, 'nbd-protocol');
    const type = header.readUInt32BE(12);
    const length = header.readUInt32BE(16);
    if (length > MAX_OPTION_REPLY) this.fail(`the server sent an option reply of ${length} bytes (at most ${MAX_OPTION_REPLY} are accepted)`, 'nbd-protocol');
    return { type, data: await this.reader.read(length) };
  }

  /** An option answered by ACK (true) or "unsupported" (false); other errors fail. */
  async simple(option: number, data: Buffer): Promise<boolean> {
    this.send(option, data);
    const reply = await this.reply(option);
    if (reply.type === C.REP_ACK) return true;
    if (reply.type === C.REP_ERR_UNSUP || reply.type === C.REP_ERR_POLICY || reply.type === C.REP_ERR_INVALID) return false;
    return this.optionError(reply);
  }

  /** Select the one context block status reads (its id becomes `allocation`). */
  async setMetaContexts(exportName: string, query: string): Promise<ExportInfo['contexts'] | { readonly unknown: string }> {
    const queries = [query];
    const name = Buffer.from(exportName);
    const parts = [u32(name.length), name, u32(queries.length)];
    for (const q of queries) parts.push(u32(Buffer.byteLength(q)), Buffer.from(q));
    this.send(C.OPT_SET_META_CONTEXT, Buffer.concat(parts));
    const contexts: { allocation?: number } = {};
    for (let count = 0; ; count++) {
      const reply = await this.reply(C.OPT_SET_META_CONTEXT);
      if (reply.type === C.REP_ACK) return contexts;
      if (reply.type === C.REP_ERR_UNKNOWN) return { unknown: serverMessage(reply) };
      if (reply.type & C.REP_FLAG_ERROR) {
        if (reply.type === C.REP_ERR_UNSUP || reply.type === C.REP_ERR_INVALID || reply.type === C.REP_ERR_POLICY) return {};
        return this.optionError(reply);
      }
      if (reply.type !== C.REP_META_CONTEXT || reply.data.length < 5 || count >= queries.length) {
        this.fail('the server sent an invalid answer to NBD_OPT_SET_META_CONTEXT', 'nbd-protocol');
      }
      const id = reply.data.readUInt32BE(0);
      const context = reply.data.subarray(4).toString();
      if (context === query) contexts.allocation = id;
      else this.fail(`the server selected metadata context '${context.slice(0, 100)}', which was not asked for`, 'nbd-protocol');
    }
  }

  /** NBD_OPT_GO: the export's size, flags and block sizes; or why not. */
  async go(exportName: string): Promise<Omit<ExportInfo, 'structuredReplies' | 'contexts'> | 'unsupported' | { readonly unknown: string }> {
    const name = Buffer.from(exportName);
    const request = Buffer.concat([u32(name.length), name, u16(1), u16(C.INFO_BLOCK_SIZE)]);
    this.send(C.OPT_GO, request);
    let exportInfo: { size: number; flags: number } | undefined;
    let sizes = { minimumBlock: 1, preferredBlock: 4096, maximumBlock: DEFAULT_MAXIMUM_BLOCK };
    for (;;) {
      const reply = await this.reply(C.OPT_GO);
      if (reply.type === C.REP_ACK) break;
      if (reply.type === C.REP_ERR_UNSUP) return 'unsupported';
      if (reply.type === C.REP_ERR_UNKNOWN) return { unknown: serverMessage(reply) };
      if (reply.type & C.REP_FLAG_ERROR) return this.optionError(reply);
      if (reply.type !== C.REP_INFO || reply.data.length < 2) this.fail('the server sent an invalid answer to NBD_OPT_GO', 'nbd-protocol');
      const info = reply.data.readUInt16BE(0);
      if (info === C.INFO_EXPORT) {
        if (reply.data.length !== 12) this.fail('the server sent an NBD_INFO_EXPORT of the wrong length', 'nbd-protocol');
        exportInfo = { size: this.size(reply.data.readBigUInt64BE(2)), flags: reply.data.readUInt16BE(10) };
      } else if (info === C.INFO_BLOCK_SIZE) {
        if (reply.data.length !== 14) this.fail('the server sent an NBD_INFO_BLOCK_SIZE of the wrong length', 'nbd-protocol');
        sizes = this.blockSizes(reply.data.readUInt32BE(2), reply.data.readUInt32BE(6), reply.data.readUInt32BE(10));
      }
      // Other information (name, description) is not needed; proto.md says to ignore what is not understood.
    }
    if (!exportInfo) return this.fail('the server accepted NBD_OPT_GO without saying the export size (no NBD_INFO_EXPORT)', 'nbd-protocol');
    return { size: exportInfo.size, transmissionFlags: exportInfo.flags, ...sizes };
  }

  /** The old way into transmission, for servers without NBD_OPT_GO. */
  async exportName(exportName: string, noZeroes: boolean, structured: boolean, contexts: ExportInfo['contexts']): Promise<ExportInfo> {
    this.send(C.OPT_EXPORT_NAME, Buffer.from(exportName));
    const reply = await this.reader.read(noZeroes ? 10 : 134);
    return {
      size: this.size(reply.readBigUInt64BE(0)),
      transmissionFlags: reply.readUInt16BE(8),
      structuredReplies: structured,
      contexts,
      minimumBlock: 1,
      preferredBlock: 4096,
      maximumBlock: DEFAULT_MAXIMUM_BLOCK,
    };
  }

  /** The export names NBD_OPT_LIST gives (at most MAX_LISTED_EXPORTS). */
  async list(): Promise<string[]> {
    this.send(C.OPT_LIST, Buffer.alloc(0));
    const names: string[] = [];
    for (;;) {
      const reply = await this.reply(C.OPT_LIST);
      if (reply.type === C.REP_ACK) return names;
      if (reply.type !== C.REP_SERVER || reply.data.length < 4) return this.optionError(reply);
      const length = reply.data.readUInt32BE(0);
      if (length > reply.data.length - 4) this.fail('the server listed an export whose name is longer than its reply', 'nbd-protocol');
      if (names.length >= MAX_LISTED_EXPORTS) this.fail(`the server lists more than ${MAX_LISTED_EXPORTS} exports`, 'nbd-protocol');
      names.push(reply.data.subarray(4, 4 + length).toString());
    }
  }

  /** Leave the handshake politely (the server may answer or just close). */
  abort(): void {
    this.send(C.OPT_ABORT, Buffer.alloc(0));
  }

  private size(value: bigint): number {
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`the server reports an export size of ${value} bytes, more than this program can address`, 'nbd-protocol');
    return Number(value);
  }

  private blockSizes(minimum: number, preferred: number, maximum: number) {
    const powerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;
    if (!powerOfTwo(minimum) || minimum > 65536 || !powerOfTwo(preferred) || preferred < minimum || maximum < minimum || (maximum !== 0xffffffff && maximum % minimum !== 0)) {
      this.fail(`the server sent impossible block sizes (minimum ${minimum}, preferred ${preferred}, maximum ${maximum})`, 'nbd-protocol');
    }
    return { minimumBlock: minimum, preferredBlock: preferred, maximumBlock: Math.min(maximum, DEFAULT_MAXIMUM_BLOCK) };
  }

  optionError(reply: OptionReply): never {
    const message = serverMessage(reply);
    const what = OPTION_ERRORS[reply.type] ?? `option reply type ${reply.type}`;
    return this.fail(message ? `${what}: server reported: ${message}` : what, reply.type === C.REP_ERR_TLS_REQD ? 'nbd-tls' : 'nbd-server-error');
  }
}

const OPTION_ERRORS: Readonly<Record<number, string>> = {
  [C.REP_ERR_UNSUP]: 'the server does not support an option this client needs',
  [C.REP_ERR_POLICY]: 'the server refused the request by its policy',
  [C.REP_ERR_INVALID]: 'the server called a request invalid',
  [C.REP_ERR_PLATFORM]: 'the server does not support this on its platform',
  [C.REP_ERR_TLS_REQD]: 'the server requires TLS: give TLS credentials (--object tls-creds-x509,id=tls0,dir=DIR,endpoint=client and the option tls-creds=tls0)',
  [C.REP_ERR_UNKNOWN]: 'Requested export not available',
  [C.REP_ERR_SHUTDOWN]: 'the server is shutting down',
  [C.REP_ERR_BLOCK_SIZE_REQD]: 'the server requires block size negotiation',
  [C.REP_ERR_TOO_BIG]: 'the request is too big for the server',
};

/** An error reply's message, bounded and on one line. */
function serverMessage(reply: OptionReply): string {
  return reply.data.subarray(0, C.MAX_STRING).toString().replace(/[\x00-\x1f]/g, ' ');
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return b;
}

function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value);
  return b;
}
