// The persistent dirty bitmaps' directory (QEMU's docs/interop/qcow2.txt, "Bitmaps"): one entry
// per bitmap, 24 bytes (table offset u64, table size u32, flags u32, type u8, granularity bits u8,
// name size u16, extra data size u32), then extra data and the name, padded to 8 bytes. Parsed
// and checked as QEMU loads it, with its messages; every field is distrusted.
import { codedError } from '../errors.ts';

export const BITMAP_IN_USE = 1 << 0;
export const BITMAP_AUTO = 1 << 1;
const EXTRA_DATA_COMPATIBLE = 1 << 2;
const RESERVED_FLAGS = ~(BITMAP_IN_USE | BITMAP_AUTO | EXTRA_DATA_COMPATIBLE) >>> 0;
const DIRTY_TRACKING = 1;
const ENTRY_HEADER = 24;

/** QEMU's limits on a directory entry (qcow2-bitmap.c) and on the directory (qcow2.h). */
export const MAX_TABLE_SIZE = 0x8000000;
const MAX_PHYS_SIZE = 0x20000000;
export const MIN_GRANULARITY_BITS = 9;
export const MAX_GRANULARITY_BITS = 31;
export const MAX_NAME_SIZE = 1023;
export const MAX_BITMAPS = 65535;
export const MAX_DIRECTORY_SIZE = 1024 * MAX_BITMAPS;

export interface Bitmap {
  readonly name: string;
  readonly tableOffset: number;
  /** Entries of the bitmap table (each maps one cluster of bitmap data). */
  readonly tableSize: number;
  readonly flags: number;
  readonly granularityBits: number;
}

const invalid = (message: string) => codedError(message, 'corrupt-image');

/** QEMU's check_dir_entry: the entry's table and granularity are possible for this image. */
export function entryFits(b: Bitmap, clusterSize: number, virtualSize: number): boolean {
  if (b.tableSize === 0 || b.tableOffset === 0 || b.tableOffset % clusterSize !== 0 || b.tableSize > MAX_TABLE_SIZE) return false;
  if (b.granularityBits > MAX_GRANULARITY_BITS || b.granularityBits < MIN_GRANULARITY_BITS) return false;
  if (b.flags & RESERVED_FLAGS || new TextEncoder().encode(b.name).length > MAX_NAME_SIZE) return false;
  const physical = b.tableSize * clusterSize;
  if (physical > MAX_PHYS_SIZE) return false;
  // A bitmap in use may be short (not saved after a resize); a valid one must cover the disk.
  return !!(b.flags & BITMAP_IN_USE) || virtualSize <= physical * 8 * 2 ** b.granularityBits;
}

/** The directory's entries; throws QEMU's message when it is broken. */
export function parseBitmapDirectory(dir: Uint8Array, count: number, clusterSize: number, virtualSize: number): Bitmap[] {
  const view = new DataView(dir.buffer, dir.byteOffset, dir.byteLength);
  const bitmaps: Bitmap[] = [];
  const broken = () => invalid('Broken bitmap directory');
  let at = 0;
  while (at < dir.length) {
    if (at + ENTRY_HEADER > dir.length) throw broken();
    if (bitmaps.length + 1 > count) throw invalid('More bitmaps found than specified in header extension');
    const nameSize = view.getUint16(at + 18);
    const extraSize = view.getUint32(at + 20);
    const size = Math.ceil((ENTRY_HEADER + nameSize + extraSize) / 8) * 8;
    if (at + size > dir.length) throw broken();
    if (extraSize !== 0) throw invalid('Bitmap extra data is not supported');
    const name = new TextDecoder().decode(dir.subarray(at + ENTRY_HEADER, at + ENTRY_HEADER + nameSize));
    const bitmap: Bitmap = {
      tableOffset: Number(view.getBigUint64(at)),
      tableSize: view.getUint32(at + 8),
      flags: view.getUint32(at + 12),
      granularityBits: dir[at + 17]!,
      name,
    };
    if (dir[at + 16] !== DIRTY_TRACKING || !entryFits(bitmap, clusterSize, virtualSize)) {
      throw invalid(`Bitmap '${name}' doesn't satisfy the constraints`);
    }
    bitmaps.push(bitmap);
    at += size;
  }
  if (bitmaps.length !== count) throw invalid('Less bitmaps found than specified in header extension');
  return bitmaps;
}

/** The directory's bytes for these bitmaps (no extra data), as QEMU writes it. */
export function encodeBitmapDirectory(bitmaps: readonly Bitmap[]): Uint8Array {
  const names = bitmaps.map((b) => new TextEncoder().encode(b.name));
  const sizes = names.map((n) => Math.ceil((ENTRY_HEADER + n.length) / 8) * 8);
  const out = new Uint8Array(sizes.reduce((a, b) => a + b, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  bitmaps.forEach((b, i) => {
    view.setBigUint64(at, BigInt(b.tableOffset));
    view.setUint32(at + 8, b.tableSize);
    view.setUint32(at + 12, b.flags);
    out[at + 16] = DIRTY_TRACKING;
    out[at + 17] = b.granularityBits;
    view.setUint16(at + 18, names[i]!.length);
    out.set(names[i]!, at + ENTRY_HEADER);
    at += sizes[i]!;
  });
  return out;
}

/** Entries of a bitmap table for a disk of `virtualSize` at this granularity (QEMU's size_to_clusters of the bitmap's bytes). */
export function tableSizeFor(virtualSize: number, granularityBits: number, clusterSize: number): number {
  const bits = Math.ceil(virtualSize / 2 ** granularityBits);
  return Math.ceil(Math.ceil(bits / 8) / clusterSize);
}
