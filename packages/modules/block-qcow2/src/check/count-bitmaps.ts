// Counting the references of persistent bitmaps (the bitmaps header extension): the bitmap
// directory, each bitmap's table, and the clusters those tables use. Sizes are bounded as QEMU
// bounds them; a table is read a cluster at a time.
import { bitmapDirectory } from '../header/bitmap-directory.ts';
import { AUTOCLEAR_BITMAPS } from '../header/features.ts';
import { readHost } from '../host-read.ts';
import { BME_ALL_ONES, BME_OFFSET_MASK, BME_RESERVED_MASK } from '../layout.ts';
import type { WalkContext } from './count-tables.ts';
/** QEMU's bounds: 64 MiB of bitmap directory, 2^27 entries of bitmap table. */
const MAX_DIRECTORY_BYTES = 64 * 2 ** 20;
const MAX_BITMAP_TABLE_ENTRIES = 2 ** 27;

/** Persistent bitmaps: their directory, each bitmap's table and the clusters the tables use. */
export async function countBitmaps(context: WalkContext): Promise<void> {
  const { file, header, tally, references } = context;
  // Without the autoclear bit (cleared by a program that does not know bitmaps, or a version 2
  // header, as qemu-img 7.2's downgrade leaves one) QEMU ignores the extension: its clusters leak.
  if ((header.autoclear & AUTOCLEAR_BITMAPS) === 0n) return;
  const where = await bitmapDirectory(file, header);
  if (!where) return;
  references.add(BigInt(where.offset), where.size);
  if (where.size > MAX_DIRECTORY_BYTES || where.offset % header.clusterSize !== 0) {
    tally.corrupt('ERROR bitmap directory is invalid');
    return;
  }
  const directory = new Uint8Array(where.size);
  await readHost(file, where.offset, directory);
  const view = new DataView(directory.buffer);
  for (let at = 0; at + 24 <= directory.length; ) {
    const tableOffset = view.getBigUint64(at);
    const tableSize = view.getUint32(at + 8);
    const nameSize = view.getUint16(at + 18);
    const extraSize = view.getUint32(at + 20);
    at += Math.ceil((24 + extraSize + nameSize) / 8) * 8;
    if (tableSize > MAX_BITMAP_TABLE_ENTRIES || tableOffset % BigInt(header.clusterSize) !== 0n) {
      tally.corruptions++;
      break;
    }
    references.add(tableOffset, tableSize * 8);
    // The table in cluster-sized pieces: it may be large.
    const piece = new Uint8Array(header.clusterSize);
    const pieceView = new DataView(piece.buffer);
    for (let read = 0; read < tableSize * 8; read += piece.length) {
      await readHost(file, Number(tableOffset) + read, piece);
      for (let e = 0; e < piece.length && read + e < tableSize * 8; e += 8) {
        const entry = pieceView.getBigUint64(e);
        const offset = entry & BME_OFFSET_MASK;
        if (entry & BME_RESERVED_MASK || (offset !== 0n && (entry & BME_ALL_ONES || offset % BigInt(header.clusterSize) !== 0n))) {
          tally.corruptions++;
          continue;
        }
        if (offset !== 0n) references.add(offset, header.clusterSize);
      }
    }
  }
}
