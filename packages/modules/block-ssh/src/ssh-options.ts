import { userInfo } from 'node:os';
import { sshError } from './errors.ts';

/**
 * The driver options of an ssh node (`--image-opts file.<name>=…`, json:), as qemu's ssh driver
 * names them (`host`/`port` are its legacy spellings of `server.host`/`server.port`), plus
 * Tessera's own: `key-file` (qemu authenticates through ssh-agent only), `connect-timeout` and
 * `timeout` (seconds).
 */
export const SSH_OPTION_NAMES = [
  'filename',
  'server.host',
  'server.port',
  'host',
  'port',
  'path',
  'user',
  'host_key_check',
  'host-key-check.mode',
  'host-key-check.type',
  'host-key-check.hash',
  'key-file',
  'connect-timeout',
  'timeout',
] as const;

/** How the server's host key is checked: against known_hosts, a pinned fingerprint, or not at all. */
export type HostKeyCheck = { mode: 'known_hosts' } | { mode: 'none' } | { mode: 'hash'; type: 'md5' | 'sha1' | 'sha256'; hash: string };

export interface SshTarget {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly user: string;
  readonly hostKeyCheck: HostKeyCheck;
  readonly keyFile: string | undefined;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** What messages name: the URL the user gave, or one made from the options. */
  readonly shown: string;
}

// qemu 7.2's ssh driver waits for libssh's defaults (connect: the kernel's minutes; requests: for
// ever). A tool must not hang: connecting (TCP, key exchange, host key check, authentication)
// gets 15 s, each SFTP request 30 s (requests are at most 256 KiB), as curl bounds transfers.
const DEFAULT_CONNECT_TIMEOUT_SECONDS = 15;
const DEFAULT_TIMEOUT_SECONDS = 30;
const MAX_TIMEOUT_SECONDS = 10_000;

/** `ssh://[user@]host[:port]/path[?host_key_check=…]` (QEMU's form) and the driver options, merged; options win. */
export function parseSshTarget(location: string, options: Readonly<Record<string, string>>): SshTarget {
  const given = location === '' ? (options.filename ?? '') : location;
  const fromUrl = given === '' ? {} : parseSshUrl(given);
  const opt = (...names: string[]) => names.map((n) => options[n]).find((v) => v !== undefined);
  const host = opt('server.host', 'host') ?? fromUrl.host;
  const path = opt('path') ?? fromUrl.path;
  const portText = opt('server.port', 'port') ?? fromUrl.port;
  const user = opt('user') ?? fromUrl.user ?? userInfo().username;
  const shown = given !== '' ? given : `ssh://${user}@${host ?? ''}${portText ? `:${portText}` : ''}${path ?? ''}`;
  const fail = (why: string): never => {
    throw sshError(`Could not open '${shown}': ${why}`, 'invalid-option');
  };
  if (!host) fail('No hostname was specified');
  if (!path) fail('No path was specified');
  const port = portText === undefined ? 22 : Number(portText);
  if (!/^\d{1,5}$/.test(portText ?? '22') || port < 1 || port > 65535) fail(`port '${portText}' is not a number from 1 to 65535`);
  const seconds = (name: string, fallback: number): number => {
    const value = options[name];
    if (value === undefined) return fallback * 1000;
    const number = /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : NaN;
    if (!(number > 0 && number <= MAX_TIMEOUT_SECONDS)) fail(`option '${name}' must be a number of seconds above 0 and at most ${MAX_TIMEOUT_SECONDS}, not '${value}'`);
    return Math.round(number * 1000);
  };
  return {
    host: host!,
    port,
    path: path!,
    user,
    hostKeyCheck: parseHostKeyCheck(options, fromUrl.hostKeyCheck, fail),
    keyFile: opt('key-file'),
    connectTimeoutMs: seconds('connect-timeout', DEFAULT_CONNECT_TIMEOUT_SECONDS),
    requestTimeoutMs: seconds('timeout', DEFAULT_TIMEOUT_SECONDS),
    shown,
  };
}

interface UrlParts {
  host?: string;
  port?: string;
  path?: string;
  user?: string;
  hostKeyCheck?: string;
}

function parseSshUrl(text: string): UrlParts {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw sshError(`Could not open '${text}': URL scheme must be 'ssh' and the URL well formed`, 'invalid-option');
  }
  if (url.protocol !== 'ssh:') throw sshError(`Could not open '${text}': URL scheme must be 'ssh'`, 'invalid-option');
  const parts: UrlParts = {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1') || undefined,
    port: url.port || undefined,
    path: decodeURIComponent(url.pathname) || undefined,
    user: url.username ? decodeURIComponent(url.username) : undefined,
  };
  for (const [key, value] of url.searchParams) {
    // qemu's words for any other query parameter.
    if (key !== 'host_key_check') throw sshError(`Could not open '${text}': Unknown parameter '${key}'`, 'invalid-option');
    parts.hostKeyCheck = value;
  }
  return parts;
}

function parseHostKeyCheck(options: Readonly<Record<string, string>>, fromUrl: string | undefined, fail: (why: string) => never): HostKeyCheck {
  const mode = options['host-key-check.mode'];
  if (mode !== undefined) {
    if (mode === 'none') return { mode: 'none' };
    if (mode === 'known_hosts') return { mode: 'known_hosts' };
    if (mode !== 'hash') fail(`host-key-check.mode must be 'none', 'hash' or 'known_hosts', not '${mode}'`);
    return hashCheck(options['host-key-check.type'] ?? '', options['host-key-check.hash'] ?? '', fail);
  }
  const legacy = options.host_key_check ?? fromUrl;
  if (legacy === undefined || legacy === 'yes') return { mode: 'known_hosts' };
  if (legacy === 'no') return { mode: 'none' };
  const colon = legacy.indexOf(':');
  if (colon < 0) fail(`unknown host_key_check setting (${legacy}): use yes, no, md5:<hex>, sha1:<hex> or sha256:<hex>`);
  return hashCheck(legacy.slice(0, colon), legacy.slice(colon + 1), fail);
}

function hashCheck(type: string, hash: string, fail: (why: string) => never): HostKeyCheck {
  if (type !== 'md5' && type !== 'sha1' && type !== 'sha256') fail(`unknown host_key_check hash type '${type}': use md5, sha1 or sha256`);
  // qemu accepts the hex with or without colons between bytes.
  const hex = hash.replaceAll(':', '').toLowerCase();
  if (!/^([0-9a-f]{2})+$/.test(hex)) fail(`host_key_check '${type}:${hash}' is not a hexadecimal fingerprint`);
  return { mode: 'hash', type: type as 'md5' | 'sha1' | 'sha256', hash: hex };
}
