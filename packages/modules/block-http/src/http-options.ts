import { codedError } from '@tessera/module-kit/coded-error';
/** The driver options a user can give an http(s) node (`--image-opts file.<name>=<value>`). */
export const HTTP_OPTION_NAMES = ['url', 'sslverify', 'timeout', 'ca-file', 'readahead'] as const;

export interface HttpOptions {
  /** Verify the server's certificate chain and host name (https only). */
  readonly sslVerify: boolean;
  /** Limit for connecting, for the response headers and for each pause in the body, in ms. */
  readonly timeoutMs: number;
  /** PEM file with the CAs to trust instead of the system's (https only). */
  readonly caFile?: string;
  /** Smallest span a read fetches; later small reads inside it need no request. */
  readonly readahead: number;
}

// Defaults and limits follow QEMU's curl driver, so the same command lines behave the same.
const DEFAULT_TIMEOUT_SECONDS = 5;
const MAX_TIMEOUT_SECONDS = 10_000;
const DEFAULT_READAHEAD = 256 * 1024;
const MAX_READAHEAD = 64 * 1024 * 1024;

/** Validate the options of the node opened at `url`; every complaint names the option and the URL. */
export function parseHttpOptions(url: string, options: Readonly<Record<string, string>>): HttpOptions {
  const fail = (message: string): never => {
    throw codedError(`Could not open '${url}': ${message}`, 'invalid-option');
  };
  for (const key of Object.keys(options)) {
    if (!(HTTP_OPTION_NAMES as readonly string[]).includes(key)) {
      fail(`the http driver has no option '${key}' (it has ${HTTP_OPTION_NAMES.join(', ')})`);
    }
  }
  const caFile = options['ca-file'];
  if (caFile === '') fail("option 'ca-file' needs the path of a PEM file");
  return {
    sslVerify: parseSwitch(options.sslverify, true) ?? fail(`option 'sslverify' must be 'on' or 'off', not '${options.sslverify}'`),
    timeoutMs: parseTimeout(options.timeout) ?? fail(
      `option 'timeout' must be a number of seconds above 0 and at most ${MAX_TIMEOUT_SECONDS}, not '${options.timeout}'`,
    ),
    caFile,
    readahead: parseReadahead(options.readahead) ?? fail(
      `option 'readahead' must be a size that is a multiple of 512 and at most 64M (e.g. 0, 256k, 1M), not '${options.readahead}'`,
    ),
  };
}

function parseSwitch(value: string | undefined, fallback: boolean): boolean | undefined {
  if (value === undefined) return fallback;
  const lower = value.toLowerCase();
  if (['on', 'yes', 'true'].includes(lower)) return true;
  if (['off', 'no', 'false'].includes(lower)) return false;
  return undefined;
}

function parseTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return DEFAULT_TIMEOUT_SECONDS * 1000;
  if (!/^\d+(\.\d+)?$/.test(value.trim())) return undefined;
  const seconds = Number(value);
  return seconds > 0 && seconds <= MAX_TIMEOUT_SECONDS ? Math.round(seconds * 1000) : undefined;
}

const SIZE_SUFFIXES: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** A qemu-style size (`256k`, `1M`, `4096`), as QEMU's readahead option takes it. */
function parseReadahead(value: string | undefined): number | undefined {
  if (value === undefined) return DEFAULT_READAHEAD;
  const match = /^(\d+)([bkmg]?)$/i.exec(value.trim());
  if (!match) return undefined;
  const bytes = Number(match[1]) * SIZE_SUFFIXES[match[2]!.toLowerCase()]!;
  return bytes % 512 === 0 && bytes <= MAX_READAHEAD ? bytes : undefined;
}
