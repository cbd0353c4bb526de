/** The options of `-netdev socket` (besides `id`), as QEMU names them. */
export const SOCKET_OPTION_NAMES = ['listen', 'connect', 'mcast', 'udp', 'localaddr'] as const;

export interface HostPort {
  /** Host name or IPv4 address; undefined for `listen=:port` (every interface, as QEMU). */
  readonly host: string | undefined;
  readonly port: number;
}

/** What the options ask for: exactly one way of reaching the other emulator(s). */
export type SocketNetdevConfig =
  | { readonly mode: 'listen'; readonly address: HostPort }
  | { readonly mode: 'connect'; readonly address: HostPort & { readonly host: string } }
  | { readonly mode: 'mcast'; readonly group: string; readonly port: number; readonly localAddress?: string }
  | { readonly mode: 'udp'; readonly remote: HostPort & { readonly host: string }; readonly local: HostPort };

export class SocketOptionError extends Error {}

const fail = (message: string): never => {
  throw new SocketOptionError(`${message}`);
};

/** Validate the options; every complaint names the option it is about. */
export function parseSocketOptions(options: Readonly<Record<string, string>>): SocketNetdevConfig {
  for (const key of Object.keys(options)) {
    if (key === 'id') continue;
    if (key === 'fd') fail("fd= is not supported (a Node process cannot adopt a socket by descriptor here)");
    if (!(SOCKET_OPTION_NAMES as readonly string[]).includes(key)) {
      fail(`invalid parameter '${key}' (the socket backend takes ${SOCKET_OPTION_NAMES.join('=, ')}=)`);
    }
  }
  const modes = (['listen', 'connect', 'mcast', 'udp'] as const).filter((name) => options[name] !== undefined);
  if (modes.length !== 1) fail('exactly one of listen=, connect=, mcast= or udp= is required');
  const mode = modes[0]!;
  const localaddr = options.localaddr;
  if (localaddr !== undefined && mode !== 'mcast' && mode !== 'udp') fail('localaddr= is only valid with mcast= or udp=');

  switch (mode) {
    case 'listen':
      return { mode, address: parseHostPort('listen', options.listen!, { hostOptional: true }) };
    case 'connect':
      return { mode, address: parseHostPort('connect', options.connect!) as HostPort & { host: string } };
    case 'mcast': {
      const { host, port } = parseHostPort('mcast', options.mcast!);
      if (!isMulticastIPv4(host!)) fail(`mcast=${options.mcast}: '${host}' is not an IPv4 multicast address (224.0.0.0 to 239.255.255.255)`);
      if (localaddr !== undefined && !isIPv4(localaddr)) fail(`localaddr=${localaddr}: not a valid IPv4 address`);
      return { mode, group: host!, port, ...(localaddr !== undefined ? { localAddress: localaddr } : {}) };
    }
    case 'udp': {
      if (localaddr === undefined) fail('localaddr= is mandatory with udp=');
      const remote = parseHostPort('udp', options.udp!) as HostPort & { host: string };
      return { mode, remote, local: parseHostPort('localaddr', localaddr!, { hostOptional: true }) };
    }
  }
}

/** `host:port` (QEMU's parse_host_port: IPv4 or a host name, port 1–65535). */
export function parseHostPort(option: string, value: string, { hostOptional = false } = {}): HostPort {
  const where = `${option}=${value}`;
  const colon = value.lastIndexOf(':');
  if (colon < 0) return fail(`${where}: host address '${value}' doesn't contain ':' separating host from port`);
  const host = value.slice(0, colon);
  const portText = value.slice(colon + 1);
  if (host.includes(':') || host.startsWith('[')) fail(`${where}: IPv6 addresses are not supported (QEMU's socket backend is IPv4 only)`);
  if (host === '' && !hostOptional) fail(`${where}: a host is required before ':'`);
  if (host !== '' && !/^[A-Za-z0-9.-]+$/.test(host)) fail(`${where}: '${host}' is not a host name or IPv4 address`);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    fail(`${where}: error parsing port '${portText}' (a number from 1 to 65535)`);
  }
  return { host: host === '' ? undefined : host, port: Number(portText) };
}

function isIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((part) => /^\d{1,3}$/.test(part) && Number(part) <= 255);
}

function isMulticastIPv4(text: string): boolean {
  return isIPv4(text) && Number(text.split('.')[0]) >= 224 && Number(text.split('.')[0]) <= 239;
}
