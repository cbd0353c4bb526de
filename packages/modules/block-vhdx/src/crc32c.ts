/**
 * CRC-32C (Castagnoli), as VHDX checksums its headers, region tables and log entries.
 *
 * Slicing-by-8 (eight 256-entry tables, eight bytes a step) in one plain loop: every open checks
 * two 64 KiB region tables and every block a write adds logs and rewrites 4 KiB headers, and a
 * byte-at-a-time loop through a closure ran at about 10 MB/s, tens of milliseconds a convert.
 * What is checksummed is mostly zeroes (a 64 KiB region table holds a few entries, a log entry a
 * BAT sector of a few entries): 256 zero bytes change the CRC by a linear map of its 32 bits, applied
 * from four precomputed 256-entry tables in one step instead of 32.
 */
const TABLES = (() => {
  // Int32Array: entries stay 32-bit integers in V8 (a Uint32Array entry above 2^31 is a double).
  const tables = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    tables[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let t = 1; t < 8; t++) tables[t * 256 + n] = (tables[(t - 1) * 256 + n]! >>> 8) ^ tables[tables[(t - 1) * 256 + n]! & 0xff]!;
  }
  return tables;
})();

const FOUR_ZEROES = new Uint8Array(4);

/** The CRC-32C of `bytes`, counting the 4 bytes at `skipAt` (a checksum field) as zeroes. */
export function crc32c(bytes: Uint8Array, skipAt = -1): number {
  let crc = 0xffffffff;
  if (skipAt < 0) crc = update(crc, bytes, 0, bytes.length);
  else {
    const skipEnd = Math.min(skipAt + 4, bytes.length);
    crc = update(crc, bytes, 0, skipAt);
    crc = update(crc, FOUR_ZEROES, 0, skipEnd - skipAt);
    crc = update(crc, bytes, skipEnd, bytes.length);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Bytes of zeroes that ZERO_RUN carries a CRC over in one step. */
const ZERO_RUN_BYTES = 256;

/** `crc` (not inverted) carried bytewise over `length` zero bytes. */
function overZeroesBytewise(crc: number, length: number): number {
  for (let i = 0; i < length; i++) crc = TABLES[crc & 0xff]! ^ (crc >>> 8);
  return crc;
}

/**
 * The CRC register after ZERO_RUN_BYTES zeroes, as four tables by byte of the register before:
 * zeroes only shift and reduce the register, so the result is the XOR of what each bit alone becomes.
 */
const ZERO_RUN = (() => {
  const bits = Array.from({ length: 32 }, (_, bit) => overZeroesBytewise(1 << bit, ZERO_RUN_BYTES));
  const tables = new Int32Array(4 * 256);
  for (let k = 0; k < 4; k++) {
    for (let b = 0; b < 256; b++) {
      let value = 0;
      for (let bit = 0; bit < 8; bit++) if (b & (1 << bit)) value ^= bits[k * 8 + bit]!;
      tables[k * 256 + b] = value;
    }
  }
  return tables;
})();

/** Whether `bytes[from, from + ZERO_RUN_BYTES)` are all zero (stops at the first byte that is not). */
function zeroRunAt(bytes: Uint8Array, from: number): boolean {
  for (let i = from, end = from + ZERO_RUN_BYTES; i < end; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** `crc` (not inverted) carried over `bytes[from, to)`. */
function update(crc: number, bytes: Uint8Array, from: number, to: number): number {
  const z = ZERO_RUN;
  let i = from;
  for (; i + ZERO_RUN_BYTES <= to; i += ZERO_RUN_BYTES) {
    if (zeroRunAt(bytes, i)) {
      crc = z[crc & 0xff]! ^ z[256 + ((crc >>> 8) & 0xff)]! ^ z[512 + ((crc >>> 16) & 0xff)]! ^ z[768 + (crc >>> 24)]!;
    } else {
      crc = slicing8(crc, bytes, i, i + ZERO_RUN_BYTES);
    }
  }
  crc = slicing8(crc, bytes, i, to);
  return crc;
}

/** `crc` (not inverted) carried over `bytes[from, to)`, eight bytes a step. */
function slicing8(crc: number, bytes: Uint8Array, from: number, to: number): number {
  const t = TABLES;
  let i = from;
  for (; i + 8 <= to; i += 8) {
    const low = crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    crc =
      t[1792 + (low & 0xff)]! ^
      t[1536 + ((low >>> 8) & 0xff)]! ^
      t[1280 + ((low >>> 16) & 0xff)]! ^
      t[1024 + (low >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^
      t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
  }
  for (; i < to; i++) crc = t[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return crc;
}
