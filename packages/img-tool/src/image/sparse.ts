import { SECTOR_SIZE } from '@tessera/core';
import { isZero } from './zero.ts';

/**
 * Which parts of a chunk convert writes to a fresh (zero-reading) target, decided the way
 * qemu-img decides it for `-S`, so outputs are allocated exactly like qemu-img's:
 *
 * - the chunk is looked at in 512-byte sectors, as runs of zero and non-zero sectors;
 * - a data run is extended to the next `align` boundary (the largest power of two not above
 *   the sparse size), and a zero run between data is cut back to one, so zero runs that are
 *   skipped start and end aligned; a zero run shorter than its alignment tail joins the data;
 * - within data, zero runs shorter than the sparse size are written as part of it; one that
 *   long or longer ends the write. A zero run at the start of what is left of the chunk is
 *   skipped whatever its length.
 *
 * Returns `[start, end)` byte ranges relative to `data`. `offset` (where the chunk goes in the
 * image) must be sector-aligned; `data.length` is a whole number of sectors.
 */
export function dataRanges(data: Uint8Array, offset: number, sparseSize: number): Array<[number, number]> {
  if (noLongZeroRun(data, sparseSize / SECTOR_SIZE)) return [[0, data.length]];
  return dataRangesBySector(data, offset, sparseSize);
}

/** dataRanges without its shortcut: every sector is looked at. Exported for the tests. */
export function dataRangesBySector(data: Uint8Array, offset: number, sparseSize: number): Array<[number, number]> {
  if (isZero(data)) return [];
  const sectors = new ZeroMap(data);
  const firstSector = offset / SECTOR_SIZE;
  const minimum = sparseSize / SECTOR_SIZE;
  const align = 2 ** Math.floor(Math.log2(minimum));

  /** The run of same-kind sectors from `from`, with its end aligned. */
  const run = (from: number): { length: number; data: boolean } => {
    const left = sectors.count - from;
    let zero = sectors.zero(from);
    let length = 1;
    while (length < left && sectors.zero(from + length) === zero) length++;
    if (length === left) return { length, data: !zero };
    const tail = (firstSector + from + length) % align;
    if (tail !== 0) {
      if (zero && length <= tail) zero = false; // too short to leave out once aligned
      length = zero ? length - tail : Math.min(length + align - tail, left);
    }
    return { length, data: !zero };
  };

  const ranges: Array<[number, number]> = [];
  for (let at = 0; at < sectors.count; ) {
    const first = run(at);
    if (!first.data) {
      at += first.length;
      continue;
    }
    const shortest = Math.min(minimum, sectors.count - at);
    let used = first.length;
    let checked = first.length;
    while (at + checked < sectors.count) {
      const next = run(at + checked);
      checked += next.length;
      if (next.data) used = checked;
      else if (next.length >= shortest) break;
    }
    const start = at * SECTOR_SIZE;
    const end = (at + used) * SECTOR_SIZE;
    const last = ranges.at(-1);
    if (last && last[1] === start) last[1] = end;
    else ranges.push([start, end]);
    at += used;
  }
  return ranges;
}

/**
 * Whether the chunk is surely written whole, told from a few words (typical of data chunks): the
 * first word of every `minimum`-th sector and of the last sector is non-zero. Any run of `minimum`
 * zero sectors would hold one of those sectors, so every zero run is shorter than the sparse size
 * (written as part of the data), and the chunk starts and ends with data. One read per `minimum`
 * sectors: for `-S 4k`, one per 4 KiB, where each read is a cache miss on data the kernel has
 * just copied in on another core.
 */
function noLongZeroRun(data: Uint8Array, minimum: number): boolean {
  if (data.byteOffset % 4 !== 0 || data.length % SECTOR_SIZE !== 0 || data.length === 0 || !Number.isInteger(minimum) || minimum < 1) return false;
  const words = new Uint32Array(data.buffer, data.byteOffset, data.length / 4);
  const stride = (minimum * SECTOR_SIZE) / 4;
  for (let i = 0; i < words.length; i += stride) if (words[i] === 0) return false;
  return words[words.length - SECTOR_SIZE / 4] !== 0;
}

/** Zero-or-not of each sector of a buffer, computed once (every sector is looked at anyway). */
class ZeroMap {
  readonly count: number;
  private readonly zeroes: Uint8Array;

  constructor(data: Uint8Array) {
    this.zeroes = zeroSectors(data);
    this.count = this.zeroes.length;
  }

  zero(sector: number): boolean {
    return this.zeroes[sector] === 1;
  }
}

/** Sectors compared with zeroes at once where they are zero: a disk's zero runs are mostly 4 KiB or longer. */
const BLOCK_SECTORS = 8;
const ZERO_BLOCK = Buffer.alloc(BLOCK_SECTORS * SECTOR_SIZE);

/**
 * 1 for each 512-byte sector of `data` (the last may be partial) that holds only zeroes, else 0.
 * Exported for the tests. A sector whose first word is non-zero is data without a call; zeroes
 * are compared natively (memcmp), a 4 KiB block at a time, not word by word in JavaScript: on a
 * disk whose data and zero runs interleave finely that loop was most of the sparse scan's time.
 */
export function zeroSectors(data: Uint8Array): Uint8Array {
  const count = Math.ceil(data.length / SECTOR_SIZE);
  const zeroes = new Uint8Array(count);
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.length);
  const words = data.byteOffset % 4 === 0 ? new Uint32Array(data.buffer, data.byteOffset, Math.floor(data.length / 4)) : undefined;
  const startsNonZero = (at: number) => (words ? at + 4 <= data.length && words[at / 4] !== 0 : data[at] !== 0);
  const zeroAt = (start: number, end: number) => ZERO_BLOCK.compare(bytes, start, end, 0, end - start) === 0;
  for (let sector = 0; sector < count; ) {
    const start = sector * SECTOR_SIZE;
    if (startsNonZero(start)) {
      sector++;
      continue;
    }
    if (start + ZERO_BLOCK.length <= data.length && zeroAt(start, start + ZERO_BLOCK.length)) {
      zeroes.fill(1, sector, sector + BLOCK_SECTORS);
      sector += BLOCK_SECTORS;
      continue;
    }
    if (zeroAt(start, Math.min(data.length, start + SECTOR_SIZE))) zeroes[sector] = 1;
    sector++;
  }
  return zeroes;
}
