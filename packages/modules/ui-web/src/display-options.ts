// `-display web,port=N,addr=A`: parsed and checked before anything listens, so a typo fails fast.

export const DEFAULT_PORT = 5700;
/** Loopback by default: the page gives full keyboard control of the machine to whoever opens it. */
export const DEFAULT_ADDRESS = '127.0.0.1';
export const WEB_DISPLAY_OPTIONS = ['port', 'addr'] as const;

export interface WebDisplayOptions {
  readonly port: number;
  readonly address: string;
}

export function parseWebDisplayOptions(options: Readonly<Record<string, string>>): WebDisplayOptions {
  for (const key of Object.keys(options)) {
    if (!(WEB_DISPLAY_OPTIONS as readonly string[]).includes(key)) {
      throw new Error(`-display web: unknown option '${key}' (known: ${WEB_DISPLAY_OPTIONS.join(', ')})`);
    }
  }
  return { port: parsePort(options.port), address: parseAddress(options.addr) };
}

function parsePort(value: string | undefined): number {
  if (value === undefined) return DEFAULT_PORT;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(port <= 65535)) {
    throw new Error(`-display web: option 'port' must be a TCP port number from 0 to 65535 (0 picks a free one), not '${value}'`);
  }
  return port;
}

function parseAddress(value: string | undefined): string {
  if (value === undefined) return DEFAULT_ADDRESS;
  // Brackets are how IPv6 addresses appear in URLs; accept them, listen without them.
  const address = value.replace(/^\[(.*)\]$/, '$1');
  if (address === '' || /[\s/?#@]/.test(address)) {
    throw new Error(`-display web: option 'addr' must be an IP address or host name to listen on, not '${value}'`);
  }
  return address;
}
