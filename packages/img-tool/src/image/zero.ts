import { SECTOR_SIZE } from './sector-view.ts';

// As large as a copy chunk: a zero chunk is told in one comparison (one call, one pass).
const ZEROES = new Uint8Array(2 * 1024 * 1024);

/** Whether `data[start, end)` holds only zero bytes. */
export function isZero(data: Uint8Array, start = 0, end = data.length): boolean {
  for (let at = start; at < end; at += ZEROES.length) {
    const stop = Math.min(end, at + ZEROES.length);
    if (Buffer.compare(view(data, at, stop), view(ZEROES, 0, stop - at)) !== 0) return false;
  }
  return true;
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
