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

/** Zero-or-not of each sector of a buffer, computed once. */
class ZeroMap {
  readonly count: number;
  private readonly known: Int8Array;
  /** The buffer as 32-bit words, when aligned: a data sector is told apart at its first word, without a call. */
  private readonly words: Uint32Array | undefined;

  constructor(private readonly data: Uint8Array) {
    this.count = Math.ceil(data.length / SECTOR_SIZE);
    this.known = new Int8Array(this.count).fill(-1);
    this.words = data.byteOffset % 4 === 0 && data.length % SECTOR_SIZE === 0 ? new Uint32Array(data.buffer, data.byteOffset, data.length / 4) : undefined;
  }

  zero(sector: number): boolean {
    if (this.known[sector] === -1) this.known[sector] = this.scan(sector) ? 1 : 0;
    return this.known[sector] === 1;
  }

  private scan(sector: number): boolean {
    const start = sector * SECTOR_SIZE;
    const words = this.words;
    if (!words) return isZero(this.data, start, Math.min(this.data.length, start + SECTOR_SIZE));
    for (let i = start / 4, end = (start + SECTOR_SIZE) / 4; i < end; i++) if (words[i] !== 0) return false;
    return true;
  }
}
