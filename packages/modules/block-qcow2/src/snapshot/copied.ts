// QCOW_OFLAG_COPIED (bit 63) on the active tables' entries says "refcount exactly 1: write in
// place". After snapshot operations changed refcounts, the flags are made to match them again.
import { decodeL2Entry, l2TableOffset } from '../cluster/l2-entry.ts';
import type { Qcow2Image } from '../image.ts';
import type { MetadataStructure } from '../overlap/guard.ts';
import { activeL1, l2Table } from '../overlap/structures.ts';

export const COPIED = 1n << 63n;
const OFFSET_MASK = 0x00fffffffffffe00n;

/**
 * Set COPIED exactly where the refcount is 1, in the active L1 table and the L2 tables it points
 * to (compressed entries never carry it). Changed tables are written and synced.
 */
export async function syncCopiedFlags(image: Qcow2Image): Promise<void> {
  const refcounts = image.refcounts!;
  const { clusterSize: cs, clusterBits, extendedL2, l1TableOffset } = image.header;
  const entrySize = extendedL2 ? 16 : 8;
  const l1 = image.map.l1;
  const flagged = async (entry: bigint, offset: number) => {
    const sole = (await refcounts.get(offset / cs)) === 1n;
    return sole ? entry | COPIED : entry & ~COPIED;
  };
  for (let i = 0; i < l1.length; i++) {
    const l2 = l2TableOffset(l1[i]!);
    if (l2 === 0) continue;
    const table = await image.map.l2Table(l2); // the cached copy: the writer sees the change
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    let low = Infinity;
    let high = -Infinity;
    for (let at = 0; at < cs; at += entrySize) {
      const entry = view.getBigUint64(at);
      if (decodeL2Entry(entry, clusterBits, false).kind === 'compressed') continue;
      const offset = Number(entry & OFFSET_MASK);
      if (offset === 0) continue;
      const wanted = await flagged(entry, offset);
      if (wanted === entry) continue;
      view.setBigUint64(at, wanted);
      low = Math.min(low, at);
      high = Math.max(high, at + 8);
    }
    if (low < high) await image.overlap.write(l2 + low, table.subarray(low, high), l2Table(image.header, l2));
    l1[i] = await flagged(l1[i]!, l2);
  }
  await writeL1(image, l1TableOffset, l1, activeL1(image.header));
  await image.child.flush();
}

/** The whole L1 table at `offset` (big-endian entries): `own` when it rewrites one, else a new table. */
export async function writeL1(image: Qcow2Image, offset: number, l1: BigUint64Array, own?: MetadataStructure): Promise<void> {
  if (l1.length === 0) return;
  const bytes = new Uint8Array(l1.length * 8);
  const view = new DataView(bytes.buffer);
  l1.forEach((entry, i) => view.setBigUint64(i * 8, entry));
  await image.overlap.write(offset, bytes, own);
}
