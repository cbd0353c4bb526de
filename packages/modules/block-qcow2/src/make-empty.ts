// Emptying an image (qemu-img commit): every guest cluster unallocated again, so the image reads
// through to its backing file, and the clusters that held its data and L2 tables released.
//
// Order on disk, so a crash leaves leaks at most: the L1 table is cleared and synced first (no
// reference is left), only then do the refcounts of the L2 tables and data clusters go down.
// Each cluster loses the one reference the active L1 table gave it; clusters internal snapshots
// share keep theirs.
import { forEachL2Table } from './cluster/tables.ts';
import { l2EntrySize, referencedClusters } from './layout.ts';
import { activeL1 } from './overlap/structures.ts';
import type { Qcow2State } from './state.ts';

export async function makeImageEmpty(image: Qcow2State): Promise<void> {
  const refcounts = image.refcounts;
  if (!refcounts) throw new Error(`${image.filename}: the image is opened read-only`);
  await image.lock.write(async () => {
    const h = image.header;
    const cs = h.clusterSize;
    const hasDataFile = image.dataFile !== undefined;
    const l1 = image.map.l1;
    const entrySize = l2EntrySize(h.extendedL2);

    // Everything the active L1 table reaches, gathered before anything changes: compressed, data
    // and preallocated zero clusters (in a data file there are no refcounts), then the table.
    const released: number[] = [];
    await forEachL2Table(l1, (l2Offset) => image.map.l2Table(l2Offset), (table, view, l2Offset) => {
      for (let at = 0; at + entrySize <= table.length; at += entrySize) referencedClusters(view.getBigUint64(at), h.clusterBits, !hasDataFile, released);
      released.push(l2Offset / cs);
    });
    if (released.length === 0 && l1.every((entry) => entry === 0n)) return;

    await image.overlap.write(h.l1TableOffset, new Uint8Array(l1.length * 8), activeL1(h));
    await image.child.flush();
    l1.fill(0n);
    await refcounts.change(released, -1n);
    await image.child.flush();
  });
}
