// Keeping enabled (`auto`) bitmaps correct while the image is open for writing, as QEMU does:
// at open their contents are read into memory; before the first guest write they are marked in
// use on disk (so a crash leaves them flagged inconsistent, never silently wrong; QEMU marks them
// at open, here an open that writes nothing leaves the file alone); every guest write sets the
// bits of the granules it touches; at close, if anything was written, each is stored anew (data clusters only where a bit is set, a new
// table, the directory without the in-use flag) and the old clusters are freed.
import { codedError } from '../errors.ts';
import { readHost } from '../host-read.ts';
import { BME_ALL_ONES, BME_OFFSET_MASK, BME_RESERVED_MASK } from '../layout.ts';
import { dataClusters, storeBitmaps, type Image } from './change.ts';
import { BITMAP_AUTO, BITMAP_IN_USE, tableSizeFor, type Bitmap } from './directory.ts';

interface Tracked {
  readonly index: number;
  readonly granularityBits: number;
  /** Bit i: granule i is dirty (QEMU's serialization: byte i >> 3, bit i & 7). Replaced by a resize. */
  bits: Uint8Array;
}

export class BitmapTracker {
  private marking: Promise<void> | undefined;

  private constructor(
    private readonly image: Image,
    private readonly tracked: readonly Tracked[],
  ) {}

  /** Start tracking the image's enabled bitmaps (none: undefined); reads them, writes nothing. */
  static async start(image: Image): Promise<BitmapTracker | undefined> {
    const bitmaps = image.bitmaps.bitmaps;
    const tracked: Tracked[] = [];
    for (const [index, b] of bitmaps.entries()) {
      if (!(b.flags & BITMAP_AUTO) || b.flags & BITMAP_IN_USE) continue;
      tracked.push({ index, granularityBits: b.granularityBits, bits: await loadBits(image, b) });
    }
    if (!tracked.length) return undefined;
    return new BitmapTracker(image, tracked);
  }

  /** Before a guest write: the tracked bitmaps marked in use on disk (once). */
  ready(): Promise<void> {
    this.marking ??= storeBitmaps(
      this.image,
      this.image.bitmaps.bitmaps.map((b, i) => (this.tracked.some((t) => t.index === i) ? { ...b, flags: b.flags | BITMAP_IN_USE } : b)),
      [],
    );
    return this.marking;
  }

  /** The current bits of the bitmap at `index` of the directory (a copy), if it is tracked. */
  bitsOf(index: number): Uint8Array | undefined {
    const tracked = this.tracked.find((t) => t.index === index);
    return tracked && tracked.bits.slice();
  }

  /** The disk was resized: each tracked bitmap follows (bitsForSize). */
  resized(size: number): void {
    for (const t of this.tracked) t.bits = bitsForSize(t.bits, t.granularityBits, size);
  }

  /** A guest write of `length` bytes at `offset`: its granules are dirty. */
  mark(offset: number, length: number): void {
    if (length <= 0) return;
    for (const { granularityBits, bits } of this.tracked) {
      const g = 2 ** granularityBits;
      const last = Math.min(Math.floor((offset + length - 1) / g), bits.length * 8 - 1);
      for (let i = Math.floor(offset / g); i <= last; i++) bits[i >> 3]! |= 1 << (i & 7);
    }
  }

  /** Store every tracked bitmap and clear its in-use flag (at close). */
  async store(): Promise<void> {
    const { image } = this;
    const { refcounts, child } = image;
    if (!refcounts || !this.marking) return; // nothing was written: the bitmaps on disk are current
    await this.marking;
    const next = [...image.bitmaps.bitmaps];
    const freed: [number, number][] = [];
    for (const { index, bits } of this.tracked) {
      next[index] = { ...(await writeBits(image, next[index]!, bits, freed)), flags: next[index]!.flags & ~BITMAP_IN_USE };
    }
    await child.flush();
    await storeBitmaps(image, next, freed);
  }
}

/**
 * `bits` written as bitmap `old`'s new contents: data clusters only where a bit is set, a new
 * table sized for the disk's current size (as QEMU stores a bitmap from its in-memory size); the
 * old table and data clusters are added to `freed`. Returns the entry pointing there.
 */
export async function writeBits(image: Image, old: Bitmap, bits: Uint8Array, freed: [number, number][]): Promise<Bitmap> {
  const { refcounts, child, header } = image;
  const cs = header.clusterSize;
  const tableSize = tableSizeFor(header.size, old.granularityBits, cs);
  const table = new Uint8Array(tableSize * 8);
  const view = new DataView(table.buffer);
  for (let i = 0; i * cs < bits.length && i < tableSize; i++) {
    const chunk = bits.subarray(i * cs, (i + 1) * cs);
    if (!chunk.some((byte) => byte !== 0)) continue;
    const [offset] = await refcounts!.allocate(1);
    const data = new Uint8Array(cs);
    data.set(chunk);
    await child.write(offset!, data);
    view.setBigUint64(i * 8, BigInt(offset!));
  }
  const tableOffset = await refcounts!.allocateRun(Math.ceil(table.length / cs));
  await child.write(tableOffset, table);
  freed.push([old.tableOffset / cs, Math.ceil((old.tableSize * 8) / cs)]);
  for (const offset of await dataClusters(image, old)) freed.push([offset / cs, 1]);
  return { ...old, tableOffset, tableSize };
}

/**
 * A bitmap's bits for a disk of `size` bytes, as QEMU truncates one (hbitmap_truncate): the
 * granules both sizes have keep their bits (a partly kept last granule too), the rest are clean.
 */
export function bitsForSize(bits: Uint8Array, granularityBits: number, size: number): Uint8Array {
  const granules = Math.ceil(size / 2 ** granularityBits);
  const out = new Uint8Array(Math.ceil(granules / 8));
  out.set(bits.subarray(0, out.length));
  if (granules % 8) out[out.length - 1]! &= (1 << (granules % 8)) - 1;
  return out;
}

/** A bitmap's bits as stored, distrusting its table (QEMU's check_table_entry). */
export async function loadBits(image: Image, b: Bitmap): Promise<Uint8Array> {
  const { header, child } = image;
  const cs = header.clusterSize;
  const bits = new Uint8Array(Math.ceil(Math.ceil(header.size / 2 ** b.granularityBits) / 8));
  const used = Math.ceil(bits.length / cs); // table entries that hold the disk's bits
  const table = new Uint8Array(Math.min(used, b.tableSize) * 8);
  await readHost(child, b.tableOffset, table);
  const view = new DataView(table.buffer);
  const cluster = new Uint8Array(cs);
  for (let i = 0; i * 8 < table.length; i++) {
    const entry = view.getBigUint64(i * 8);
    const offset = Number(entry & BME_OFFSET_MASK);
    if (entry & BME_RESERVED_MASK || (offset && (entry & BME_ALL_ONES || offset % cs !== 0 || offset + cs > child.size))) {
      throw codedError(`Could not read bitmap '${b.name}' from image: Invalid argument`, 'corrupt-image');
    }
    const part = bits.subarray(i * cs, (i + 1) * cs);
    if (offset) {
      await readHost(child, offset, cluster);
      part.set(cluster.subarray(0, part.length));
    } else if (entry & BME_ALL_ONES) part.fill(0xff);
  }
  return bits;
}
