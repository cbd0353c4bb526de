import type { Console } from './console.ts';
import { ToolError } from './errors.ts';
import { MAX_SIZE, parseSize } from '../image/size.ts';

/** Option values every command checks the same way, with qemu-img's messages. */

export type OutputFormat = 'human' | 'json';

export function parseOutputFormat(value: string | undefined): OutputFormat {
  if (value === undefined || value === 'human') return 'human';
  if (value === 'json') return 'json';
  throw new ToolError('--output must be used with human or json as argument.');
}

const CACHE_MODES = ['none', 'off', 'writeback', 'writethrough', 'directsync', 'unsafe'];

/** `-t` / `-T`: validated like qemu-img; the tool's I/O does not depend on the mode. */
export function checkCacheMode(value: string, source: boolean, exitCode = 1): void {
  if (!CACHE_MODES.includes(value)) {
    throw new ToolError(`Invalid ${source ? 'source ' : ''}cache option: ${value}`, exitCode);
  }
}

/**
 * A size-like number (`-S`, `-r`, the image size), as qemu-img's cvtnum reads it; `name`
 * is what the messages call it ("image size").
 */
export function parseSizeArgument(name: string, text: string, console: Console): bigint {
  const parsed = parseSize(text);
  if (!parsed.ok && parsed.reason === 'invalid') {
    throw new ToolError([
      `Invalid ${name} specified. You may use k, M, G, T, P or E suffixes for`,
      'kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.',
    ]);
  }
  if (!parsed.ok || parsed.value > MAX_SIZE) {
    throw new ToolError(`Invalid ${name} specified. Must be between 0 and ${MAX_SIZE}.`);
  }
  if (parsed.hexWithMultiplier) console.warn(`Using a multiplier suffix on hex numbers is deprecated: ${text}`);
  return parsed.value;
}

/** An integer the way C's strtol reads it with base 0 (`12`, `0x1f`, `017`); undefined when malformed. */
export function parseCInteger(text: string): number | undefined {
  const match = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!match) return undefined;
  const digits = match[2]!;
  const value = /^0[xX]/.test(digits) ? parseInt(digits.slice(2), 16) : digits.length > 1 && digits.startsWith('0') ? parseInt(digits, 8) : parseInt(digits, 10);
  return match[1] === '-' ? -value : value;
}
