import { nbdError } from './errors.ts';
import { NBD_ADDRESS_OPTIONS } from './nbd-url.ts';

/**
 * The driver options a user can give an nbd node (`--image-opts file.<name>=<value>`, or
 * `driver=nbd,<name>=<value>`): a URL (`filename`) or qemu's structured address, TLS, deadlines.
 */
export const NBD_OPTION_NAMES = ['filename', ...NBD_ADDRESS_OPTIONS, 'tls-creds', 'tls-hostname', 'x-dirty-bitmap', 'connect-timeout', 'timeout'] as const;

export interface NbdOptions {
  /** Connecting and the whole handshake must fit in this (ms). */
  readonly connectTimeoutMs: number;
  /** Each request, from sending it to its last reply chunk (ms). */
  readonly requestTimeoutMs: number;
  /** qemu's `x-dirty-bitmap`: the metadata context block status reads instead of base:allocation. */
  readonly allocationContext?: string;
}

// qemu 7.2's nbd client waits for the kernel's TCP connect timeout (minutes) and has no request
// deadline at all (it waits for ever unless reconnect-delay is set). A tool must not hang, so the
// connection and handshake get 10 s (an NBD handshake takes milliseconds, even with qemu-nbd's
// ~40 ms per option reply) and each request 30 s (one request is at most 4 MiB, and up to 16 are
// in flight: 30 s allows a link of ~2 MiB/s), as curl bounds transfers with its timeouts.
const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10;
const DEFAULT_TIMEOUT_SECONDS = 30;
const MAX_TIMEOUT_SECONDS = 10_000;

export function parseNbdOptions(shownUrl: string, options: Readonly<Record<string, string>>): NbdOptions {
  const seconds = (name: string, fallback: number): number => {
    const value = options[name];
    if (value === undefined) return fallback * 1000;
    const number = /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : NaN;
    if (!(number > 0 && number <= MAX_TIMEOUT_SECONDS)) {
      throw nbdError(`Could not open '${shownUrl}': option '${name}' must be a number of seconds above 0 and at most ${MAX_TIMEOUT_SECONDS}, not '${value}'`, 'invalid-option');
    }
    return Math.round(number * 1000);
  };
  return {
    connectTimeoutMs: seconds('connect-timeout', DEFAULT_CONNECT_TIMEOUT_SECONDS),
    requestTimeoutMs: seconds('timeout', DEFAULT_TIMEOUT_SECONDS),
    ...(options['x-dirty-bitmap'] ? { allocationContext: options['x-dirty-bitmap'] } : {}),
  };
}
