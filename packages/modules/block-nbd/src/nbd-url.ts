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
