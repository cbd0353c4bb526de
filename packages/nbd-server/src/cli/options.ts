// qemu-nbd's command line, for what tessera-nbd does (everything but the kernel's NBD device and
// listing another server's exports), with qemu-nbd's messages for what it refuses.
import { parseArgs } from 'node:util';
import type { CacheMode } from '@tessera/core';
import type { DetectZeroes, DiscardMode } from '../server/export.ts';
import { MAX_STRING } from '../server/protocol.ts';

/** A command line the program cannot use: printed with the "Try --help" hint, exit 1. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** qemu-nbd prints the hint for getopt's complaints and a wrong operand count only. */
    readonly hint: boolean,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A valid command line that asks for something refused (a bad value): printed alone, exit 1. */
export class OptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionError';
  }
}

export type Listen = { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

export interface ServerOptions {
  readonly action: 'serve' | 'help' | 'version' | 'list-modules';
  readonly filename: string;
  readonly format: string | undefined;
  readonly imageOpts: boolean;
  readonly readOnly: boolean;
  readonly exportName: string;
  readonly description: string | undefined;
  readonly listen: Listen;
  readonly persistent: boolean;
  readonly shared: number;
  readonly cache: CacheMode | undefined;
  readonly discard: DiscardMode;
  readonly detectZeroes: DetectZeroes;
  readonly fork: boolean;
  readonly pidFile: string | undefined;
  readonly objects: readonly string[];
  readonly tlsCreds: string | undefined;
  readonly tlsAuthz: string | undefined;
  readonly allocationDepth: boolean;
  readonly bitmap: string | undefined;
  readonly listModulesOutput: string | undefined;
}

const OPTIONS = {
  format: { type: 'string', short: 'f' },
  'read-only': { type: 'boolean', short: 'r' },
  'export-name': { type: 'string', short: 'x' },
  description: { type: 'string', short: 'D' },
  port: { type: 'string', short: 'p' },
  bind: { type: 'string', short: 'b' },
  socket: { type: 'string', short: 'k' },
  persistent: { type: 'boolean', short: 't' },
  shared: { type: 'string', short: 'e' },
  verbose: { type: 'boolean', short: 'v' },
  nocache: { type: 'boolean', short: 'n' },
  cache: { type: 'string' },
  aio: { type: 'string' },
  discard: { type: 'string' },
  'detect-zeroes': { type: 'string' },
  fork: { type: 'boolean' },
  'pid-file': { type: 'string' },
  object: { type: 'string', multiple: true },
  'tls-creds': { type: 'string' },
  'tls-authz': { type: 'string' },
  // qemu-nbd takes it for -L (listing another server's exports), which tessera-nbd does not do.
  'tls-hostname': { type: 'string' },
  'allocation-depth': { type: 'boolean', short: 'A' },
  bitmap: { type: 'string', short: 'B' },
  'image-opts': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
  'list-modules': { type: 'boolean' },
  output: { type: 'string' },
  // Accepted to refuse by name (the kernel's NBD device and -L are not for a user-space server).
  connect: { type: 'string', short: 'c' },
  disconnect: { type: 'boolean', short: 'd' },
  list: { type: 'boolean', short: 'L' },
} as const;

const CACHE_MODES: readonly CacheMode[] = ['none', 'writeback', 'writethrough', 'directsync', 'unsafe'];
const AIO_MODES = ['native', 'io_uring', 'threads'];

export function parseServerOptions(argv: readonly string[]): ServerOptions {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(getoptMessage(error as NodeJS.ErrnoException & Error, argv), true);
  }
  const v = parsed.values;
  const base = { listModulesOutput: v.output };
  if (v.help) return { ...defaults(), ...base, action: 'help' };
  if (v.version) return { ...defaults(), ...base, action: 'version' };
  if (v['list-modules']) return { ...defaults(), ...base, action: 'list-modules' };
  if (v.connect !== undefined || v.disconnect) throw new OptionError('the kernel NBD device (-c/-d) is not supported: tessera-nbd serves in user space; connect a client to it instead');
  if (v.list) throw new OptionError('listing another server (-L) is not supported; use nbdinfo --list');

  const cache = v.nocache ? 'none' : v.cache;
  if (cache !== undefined && !CACHE_MODES.includes(cache as CacheMode)) throw new OptionError(`Invalid cache mode \`${cache}'`);
  if (v.aio !== undefined && !AIO_MODES.includes(v.aio)) throw new OptionError(`Invalid aio mode '${v.aio}'`);
  const discard = parseDiscard(v.discard);
  const detectZeroes = parseDetectZeroes(v['detect-zeroes']);
  if (detectZeroes === 'unmap' && discard !== 'unmap') {
    throw new OptionError('setting detect-zeroes to unmap is not allowed without setting discard operation to unmap');
  }
  let shared = 1;
  if (v.shared !== undefined) {
    shared = /^\d+$/.test(v.shared) ? Number(v.shared) : NaN;
    if (!(shared >= 1 && shared <= 0x7fffffff)) throw new OptionError(`Invalid shared device number '${v.shared}'`);
  }
  const exportName = v['export-name'] ?? '';
  if (Buffer.byteLength(exportName) > MAX_STRING) throw new OptionError(`export name '${exportName}' too long`);
  const description = v.description;
  if (description !== undefined && Buffer.byteLength(description) > MAX_STRING) {
    throw new OptionError(`export description '${description}' too long`);
  }
  const listen = parseListen(v.socket, v.bind, v.port);
  if (parsed.positionals.length !== 1) throw new UsageError('Invalid number of arguments', true);
  checkTlsOptions(v['tls-creds'], v['tls-authz'], v['tls-hostname']);
  return {
    action: 'serve',
    filename: parsed.positionals[0]!,
    format: v.format,
    imageOpts: v['image-opts'] ?? false,
    readOnly: v['read-only'] ?? false,
    exportName,
    description,
    listen,
    persistent: v.persistent ?? false,
    shared,
    cache: cache as CacheMode | undefined,
    discard,
    detectZeroes,
    fork: v.fork ?? false,
    pidFile: v['pid-file'],
    objects: v.object ?? [],
    tlsCreds: v['tls-creds'],
    tlsAuthz: v['tls-authz'],
    allocationDepth: v['allocation-depth'] ?? false,
    bitmap: v.bitmap,
    listModulesOutput: v.output,
  };
}

function defaults(): Omit<ServerOptions, 'action' | 'listModulesOutput'> {
  return {
    filename: '',
    format: undefined,
    imageOpts: false,
    readOnly: false,
    exportName: '',
    description: undefined,
    listen: { kind: 'tcp', host: '0.0.0.0', port: 10809 },
    persistent: false,
    shared: 1,
    cache: undefined,
    discard: 'ignore',
    detectZeroes: 'off',
    fork: false,
    pidFile: undefined,
    objects: [],
    tlsCreds: undefined,
    tlsAuthz: undefined,
    allocationDepth: false,
    bitmap: undefined,
  };
}

/** qemu-nbd's checks of the TLS options beside each other (the objects they name are looked up later). */
function checkTlsOptions(creds: string | undefined, authz: string | undefined, hostname: string | undefined): void {
  if (creds !== undefined) {
    if (hostname !== undefined) throw new OptionError('TLS hostname is only supported with export list');
  } else {
    if (authz !== undefined) throw new OptionError('--tls-authz is not permitted without --tls-creds');
    if (hostname !== undefined) throw new OptionError('--tls-hostname is not permitted without --tls-creds');
  }
}

function parseDiscard(value: string | undefined): DiscardMode {
  if (value === undefined || value === 'ignore' || value === 'off') return 'ignore';
  if (value === 'unmap' || value === 'on') return 'unmap';
  throw new OptionError(`Invalid discard mode \`${value}'`);
}

function parseDetectZeroes(value: string | undefined): DetectZeroes {
  if (value === undefined) return 'off';
  if (value === 'off' || value === 'on' || value === 'unmap') return value;
  throw new OptionError(`Failed to parse detect_zeroes mode: invalid parameter value: ${value}`);
}

/** `-k PATH` (the port and address are then unused, as in qemu-nbd) or `-b ADDR -p PORT`. */
function parseListen(socket: string | undefined, bind: string | undefined, port: string | undefined): Listen {
  if (socket !== undefined) {
    if (!socket.startsWith('/')) throw new OptionError('socket path must be absolute');
    return { kind: 'unix', path: socket };
  }
  const host = bind ?? '0.0.0.0';
  const portText = port ?? '10809';
  const number = /^\d+$/.test(portText) ? Number(portText) : NaN;
  if (!(number >= 0 && number <= 65535)) {
    throw new OptionError(`address resolution failed for ${host}:${portText}: Servname not supported for ai_socktype`);
  }
  return { kind: 'tcp', host, port: number };
}

/** Node's parseArgs complaints in getopt's words, as qemu-nbd prints them. */
function getoptMessage(error: NodeJS.ErrnoException & Error, argv: readonly string[]): string {
  const quoted = /'(-[^']*)'/.exec(error.message)?.[1] ?? '';
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const word = argv.find((a) => a === quoted || a.startsWith(`${quoted}=`)) ?? quoted;
    return word.startsWith('--') ? `unrecognized option '${word}'` : `invalid option -- '${quoted.replace(/^-/, '')}'`;
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const short = /^-(\w)\b/.exec(quoted);
    if (/argument missing/.test(error.message)) {
      const typed = argv[argv.length - 1] ?? '';
      return short && !typed.startsWith('--') ? `option requires an argument -- '${short[1]}'` : `option '${typed}' requires an argument`;
    }
    return `option '${quoted.split(/[ ,]/)[0]}' doesn't allow an argument`;
  }
  return error.message;
}
