import { SECTOR_SIZE } from '@tessera/core';

/** Bytes compared against a zero buffer directly; longer ranges compare with themselves. */
const HEAD = 64;
const ZEROES = new Uint8Array(HEAD);

/**
 * Whether `data[start, end)` holds only zero bytes.
 *
 * A long range is zero when its first HEAD bytes are and each byte equals the one HEAD bytes
 * further on (by induction every byte then equals one in the head). That is one memcmp of the
 * range against itself, shifted: both sides lie in the same cache lines, so the range streams
 * through the cache once, where comparing against a zero buffer streams two buffers.
 */
export function isZero(data: Uint8Array, start = 0, end = data.length): boolean {
  const length = end - start;
  if (length <= HEAD) return Buffer.compare(view(data, start, end), view(ZEROES, 0, length)) === 0;
  return (
    Buffer.compare(view(data, start, start + HEAD), view(ZEROES, 0, HEAD)) === 0 &&
    Buffer.compare(view(data, start, end - HEAD), view(data, start + HEAD, end)) === 0
  );
}

/** Index of the first 512-byte sector (relative to `data`) holding a non-zero byte, or -1. */
export function firstNonZeroSector(data: Uint8Array): number {
  for (let at = 0; at < data.length; at += SECTOR_SIZE) {
    if (!isZero(data, at, Math.min(data.length, at + SECTOR_SIZE))) return at;
  }
  return -1;
}

/** Index of the first 512-byte sector in which `a` and `b` (same length) differ, or -1. */
export function firstDifferentSector(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.compare(view(a, 0, a.length), view(b, 0, b.length)) === 0) return -1;
  for (let at = 0; at < a.length; at += SECTOR_SIZE) {
    const stop = Math.min(a.length, at + SECTOR_SIZE);
    if (Buffer.compare(view(a, at, stop), view(b, at, stop)) !== 0) return at;
  }
  return -1;
}

function view(data: Uint8Array, start: number, end: number): Buffer {
  return Buffer.from(data.buffer, data.byteOffset + start, end - start);
}
