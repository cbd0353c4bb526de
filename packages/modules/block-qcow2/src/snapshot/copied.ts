// QCOW_OFLAG_COPIED (bit 63) on the active tables' entries says "refcount exactly 1: write in
// place". After snapshot operations changed refcounts, the flags are made to match them again.
import { updateL2Entries } from '../cluster/tables.ts';
import { OFLAG_COPIED as COPIED, OFLAG_COMPRESSED, l2EntrySize, l2HostOffset, l2TableOffset, tableBytes } from '../layout.ts';
import type { MetadataStructure } from '../overlap/guard.ts';
import { activeL1 } from '../overlap/structures.ts';
import type { Qcow2State } from '../state.ts';

export { COPIED };

/**
 * Set COPIED exactly where the refcount is 1, in the active L1 table and the L2 tables it points
 * to (compressed entries never carry it). Changed tables are written and synced.
 */
export async function syncCopiedFlags(image: Qcow2State): Promise<void> {
  const refcounts = image.refcounts!;
  const { clusterSize: cs, extendedL2, l1TableOffset } = image.header;
  const l1 = image.map.l1;
  const flagged = async (entry: bigint, offset: number) => {
    const sole = (await refcounts.get(offset / cs)) === 1n;
    return sole ? entry | COPIED : entry & ~COPIED;
  };
  for (let i = 0; i < l1.length; i++) {
    const l2 = l2TableOffset(l1[i]!);
    if (l2 === 0) continue;
    await updateL2Entries(image, l2, l2EntrySize(extendedL2), (entry) => {
      const offset = l2HostOffset(entry);
      return entry & OFLAG_COMPRESSED || offset === 0 ? undefined : flagged(entry, offset);
    });
    l1[i] = await flagged(l1[i]!, l2);
  }
  await writeL1(image, l1TableOffset, l1, activeL1(image.header));
  await image.child.flush();
}

/** The whole L1 table at `offset` (big-endian entries): `own` when it rewrites one, else a new table. */
export async function writeL1(image: Qcow2State, offset: number, l1: BigUint64Array, own?: MetadataStructure): Promise<void> {
  if (l1.length === 0) return;
  await image.overlap.write(offset, tableBytes(l1), own);
}
