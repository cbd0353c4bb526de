import { DEFAULT_PORT, MAX_STRING } from './constants.ts';
import { nbdError } from './errors.ts';

/** Where the server listens. */
export type NbdAddress = { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

export interface NbdTarget {
  readonly address: NbdAddress;
  readonly exportName: string;
  /** The name qemu-img shows for the image: `nbd://host:port/export` or `nbd+unix:///export?socket=PATH`. */
  readonly canonical: string;
}

/**
 * The server and export a location names, in QEMU's spellings: `nbd://host[:port]/export`
 * (`nbd+tcp://` alike), `nbd+unix:///export?socket=PATH`, and the older `nbd:host:port[:exportname=X]`
 * and `nbd:unix:PATH[:exportname=X]`. What qemu refuses ("No valid URL specified") is refused.
 */
export function parseNbdLocation(location: string): NbdTarget {
  const invalid = (why: string): never => {
    throw nbdError(`Could not open '${location}': No valid URL specified (${why})`, 'invalid-option');
  };
  if (/^nbd(\+tcp|\+unix)?:\/\//i.test(location)) return parseUrlForm(location, invalid);
  if (/^nbd:/i.test(location)) return parseColonForm(location, invalid);
  return invalid('expected nbd://host[:port]/export, nbd+unix:///export?socket=PATH, nbd:host:port[:exportname=X] or nbd:unix:PATH[:exportname=X]');
}

function parseUrlForm(location: string, invalid: (why: string) => never): NbdTarget {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return invalid('not a valid URL');
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  // A user name (nbd://user@host/…) is ignored, as qemu ignores it: NBD has no login.
  const exportName = checkedExportName(decodePath(url.pathname.replace(/^\//, ''), invalid), invalid);
  const params = [...url.searchParams.entries()];
  if (scheme === 'nbd+unix') {
    if (url.host !== '') invalid('an nbd+unix URL names no host: nbd+unix:///export?socket=PATH');
    const socket = params.length === 1 && params[0]![0] === 'socket' ? params[0]![1] : undefined;
    if (!socket) invalid('an nbd+unix URL needs exactly one query parameter, socket=PATH');
    return { address: { kind: 'unix', path: socket! }, exportName, canonical: unixCanonical(exportName, socket!) };
  }
  if (params.length > 0 || url.search !== '') invalid('an nbd:// URL takes no query (the socket parameter is for nbd+unix://)');
  if (url.hostname === '') invalid('an nbd:// URL needs a host');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? DEFAULT_PORT : Number(url.port);
  return { address: { kind: 'tcp', host, port }, exportName, canonical: tcpCanonical(host, port, exportName) };
}

/** `nbd:host:port[:exportname=X]` and `nbd:unix:PATH[:exportname=X]`: the export name is the rest after `exportname=`. */
function parseColonForm(location: string, invalid: (why: string) => never): NbdTarget {
  let rest = location.slice(4);
  let exportName = '';
  const named = rest.indexOf(':exportname=');
  if (named >= 0) {
    exportName = checkedExportName(rest.slice(named + ':exportname='.length), invalid);
    rest = rest.slice(0, named);
  }
  if (rest.startsWith('unix:')) {
    const path = rest.slice(5);
    if (path === '') invalid('nbd:unix: needs the socket path');
    return { address: { kind: 'unix', path }, exportName, canonical: unixCanonical(exportName, path) };
  }
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(rest);
  if (!match) return invalid('expected nbd:host:port[:exportname=X]');
  const host = match[1]!.replace(/^\[(.*)\]$/, '$1');
  const port = Number(match[2]);
  return { address: { kind: 'tcp', host, port }, exportName, canonical: tcpCanonical(host, port, exportName) };
}

function decodePath(path: string, invalid: (why: string) => never): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return invalid('the export name is not valid percent-encoding');
  }
}

function checkedExportName(name: string, invalid: (why: string) => never): string {
  if (Buffer.byteLength(name) > MAX_STRING) invalid(`the export name is longer than ${MAX_STRING} bytes`);
  return name;
}

function tcpCanonical(host: string, port: number, exportName: string): string {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw nbdError(`Could not open 'nbd://${host}:${port}/${exportName}': No valid URL specified (port out of range)`, 'invalid-option');
  }
  const shownHost = host.includes(':') ? `[${host}]` : host;
  // qemu leaves the slash out for the default (empty) export name.
  return `nbd://${shownHost}:${port}${exportName === '' ? '' : `/${exportName}`}`;
}

function unixCanonical(exportName: string, socket: string): string {
  return `nbd+unix://${exportName === '' ? '' : `/${exportName}`}?socket=${socket}`;
}

/** The options that name a server and export without a URL, as qemu's nbd driver takes them. */
export const NBD_ADDRESS_OPTIONS = ['server.type', 'server.host', 'server.port', 'server.path', 'host', 'port', 'path', 'export'] as const;

/**
 * The export qemu's structured options name: `server.type=inet,server.host=H,server.port=P` or
 * `server.type=unix,server.path=S` (or the older `host`/`port`/`path`), and `export`. Named as
 * qemu names it (`nbd://H:P/export`, `nbd+unix:///export?socket=S`); qemu's messages when wrong.
 */
export function nbdTargetFromOptions(options: Readonly<Record<string, string>>): NbdTarget {
  const fail = (why: string): never => {
    throw nbdError(why, 'invalid-option');
  };
  const exportName = checkedExportName(options.export ?? '', fail);
  const server = Object.keys(options).some((key) => key.startsWith('server.'));
  const legacy = options.host !== undefined || options.port !== undefined || options.path !== undefined;
  if (server && legacy) fail('Cannot use \'server\' and path/host/port at the same time');
  const type = server ? options['server.type'] : options.path !== undefined ? 'unix' : options.host !== undefined ? 'inet' : undefined;
  const field = (name: string) => (server ? options[`server.${name}`] : options[name]);
  if (server && type === undefined) fail(`Parameter 'type' is missing`);
  if (type === undefined) return fail('NBD server address missing');
  if (type === 'unix') {
    const path = field('path');
    if (path === undefined || path === '') return fail(`Parameter 'path' is missing`);
    return { address: { kind: 'unix', path }, exportName, canonical: unixCanonical(exportName, path) };
  }
  if (type !== 'inet') return fail(`Parameter 'type' does not accept value '${type}'`);
  const host = field('host');
  if (host === undefined || host === '') return fail(`Parameter 'host' is missing`);
  const portText = field('port') ?? String(DEFAULT_PORT);
  if (!/^\d+$/.test(portText)) fail(`Parameter 'port' expects a port number, not '${portText}'`);
  const port = Number(portText);
  return { address: { kind: 'tcp', host, port }, exportName, canonical: tcpCanonical(host, port, exportName) };
}
