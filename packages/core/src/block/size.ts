/**
 * Sizes as qemu-img reads them: a decimal integer (or `0x` hex), an optional decimal fraction
 * (only with a multiplier, or when it is zero), and an optional one-letter multiplier
 * `b` (1), `k` (1024), `M`, `G`, `T`, `P`, `E` in either case. Leading blanks and `+` are
 * allowed, `-` is not. The fraction is applied with 64-bit fixed-point precision and rounded
 * half up, so `0.1k` is 102 and `3.3M` is 3460301, exactly as qemu-img computes them.
 */

export type SizeParse =
  | { readonly ok: true; readonly value: bigint; readonly hexWithMultiplier: boolean }
  | { readonly ok: false; readonly reason: 'invalid' | 'range' };

const MULTIPLIERS: Readonly<Record<string, bigint>> = {
  b: 1n,
  k: 1n << 10n,
  m: 1n << 20n,
  g: 1n << 30n,
  t: 1n << 40n,
  p: 1n << 50n,
  e: 1n << 60n,
};
const LIMIT = 1n << 64n;
const INVALID: SizeParse = { ok: false, reason: 'invalid' };
const RANGE: SizeParse = { ok: false, reason: 'range' };

export function parseSize(text: string): SizeParse {
  const integer = /^[ \t\n\v\f\r]*([+-]?)(\d+)/.exec(text);
  if (!integer || integer[1] === '-') return INVALID;
  let value = BigInt(integer[2]!);
  let rest = text.slice(integer[0].length);
  let hex = false;
  let fraction = 0n; // the fractional part as a 64-bit fixed-point number
  if (value === 0n && /^[xX]/.test(rest)) {
    const hexMatch = /^[ \t\n\v\f\r]*\+?0[xX]([0-9a-fA-F]+)/.exec(text);
    if (!hexMatch) return INVALID;
    value = BigInt(`0x${hexMatch[1]}`);
    rest = text.slice(hexMatch[0].length);
    hex = true;
    if (rest.startsWith('.')) return INVALID;
  } else if (rest.startsWith('.')) {
    const fractionMatch = /^\.(\d+)([eE][+-]?\d+)?/.exec(rest);
    if (!fractionMatch) {
      rest = rest.slice(1); // `1.` and `1.k` have no fractional digits
    } else {
      if (fractionMatch[2] !== undefined) return INVALID; // no exponents
      fraction = toFixedPoint64(Number(`0.${fractionMatch[1]}`));
      rest = rest.slice(fractionMatch[0].length);
    }
  }
  if (value >= LIMIT) return RANGE;

  const multiplier = rest === '' ? undefined : MULTIPLIERS[rest[0]!.toLowerCase()];
  if (multiplier !== undefined) rest = rest.slice(1);
  const scale = multiplier ?? 1n;
  if (scale === 1n) {
    if (fraction !== 0n) return INVALID; // a fraction of a byte needs a multiplier
  } else {
    const scaledFraction = fraction * scale;
    value = value * scale + (scaledFraction >> 64n) + ((scaledFraction >> 63n) & 1n);
    if (value >= LIMIT) return RANGE;
  }
  if (rest !== '') return INVALID;
  return { ok: true, value, hexWithMultiplier: hex && multiplier !== undefined };
}

/**
 * A fraction in [0, 1] as a 64-bit fixed-point number, truncated like a C conversion to
 * uint64_t. A fraction that rounded up to exactly 1 does not fit and counts as 0, which is
 * what qemu-img does on x86-64 (so `1.99999999999999999k` is 1024).
 */
function toFixedPoint64(fraction: number): bigint {
  const scaled = fraction * 2 ** 64;
  return scaled >= 2 ** 64 ? 0n : BigInt(Math.trunc(scaled));
}

/** The largest size qemu-img accepts anywhere (INT64_MAX). */
export const MAX_SIZE = (1n << 63n) - 1n;
