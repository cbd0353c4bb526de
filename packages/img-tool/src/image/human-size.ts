/**
 * Sizes for people, as qemu-img prints them ("1 MiB", "1.5 GiB", "0.977 KiB"): the value in
 * the largest binary unit that keeps it below 1000, with three significant digits (C's `%0.3g`,
 * rounding exact halves to even as glibc does).
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

export function formatHumanSize(bytes: number): string {
  const unit = unitIndex(bytes);
  return `${formatSignificant(BigInt(bytes), 1n << BigInt(unit * 10), 3)} ${UNITS[unit]}`;
}

/** The unit: switch up once the value would reach 1000 of the smaller unit. */
function unitIndex(bytes: number): number {
  const scaled = bytes / (1000 / 1024);
  let exponent = 0; // scaled is in [2^(exponent-1), 2^exponent)
  while (exponent < 1100 && 2 ** exponent <= scaled) exponent++;
  return Math.min(Math.trunc((exponent - 1) / 10), UNITS.length - 1);
}

/** `numerator / denominator` like C's `%.<digits>g`: exact decimal rounding, half to even. */
export function formatSignificant(numerator: bigint, denominator: bigint, digits: number): string {
  if (numerator === 0n) return '0';
  // exponent = floor(log10(value))
  let exponent = String(numerator / denominator).length - 1;
  if (numerator < denominator) {
    exponent = -1;
    while (numerator * 10n ** BigInt(-exponent) < denominator) exponent--;
  }
  let shift = digits - 1 - exponent;
  let mantissa = roundHalfEven(numerator, denominator, shift);
  if (mantissa >= 10n ** BigInt(digits)) {
    exponent++;
    shift--;
    mantissa = roundHalfEven(numerator, denominator, shift);
  }
  if (exponent < -4 || exponent >= digits) {
    const text = trimZeros(insertPoint(String(mantissa), 1));
    const sign = exponent < 0 ? '-' : '+';
    return `${text}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  // value = mantissa / 10^shift
  if (shift <= 0) return String(mantissa * 10n ** BigInt(-shift));
  const padded = String(mantissa).padStart(shift + 1, '0');
  return trimZeros(insertPoint(padded, padded.length - shift));
}

/** round(numerator / denominator * 10^shift), exact halves to even. */
function roundHalfEven(numerator: bigint, denominator: bigint, shift: number): bigint {
  const [num, den] = shift >= 0 ? [numerator * 10n ** BigInt(shift), denominator] : [numerator, denominator * 10n ** BigInt(-shift)];
  const quotient = num / den;
  const twice = (num % den) * 2n;
  if (twice > den || (twice === den && quotient % 2n === 1n)) return quotient + 1n;
  return quotient;
}

function insertPoint(digits: string, at: number): string {
  return at >= digits.length ? digits : `${digits.slice(0, at)}.${digits.slice(at)}`;
}

function trimZeros(text: string): string {
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}
