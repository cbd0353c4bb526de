// Emptying an image (qemu-img commit): every guest cluster unallocated again, so the image reads
// through to its backing file, and the clusters that held its data and L2 tables released.
//
// Order on disk, so a crash leaves leaks at most: the L1 table is cleared and synced first (no
// reference is left), only then do the refcounts of the L2 tables and data clusters go down.
// Each cluster loses the one reference the active L1 table gave it; clusters internal snapshots
// share keep theirs.
import { decodeL2Entry, l2TableOffset } from './cluster/l2-entry.ts';
import type { Qcow2Image } from './image.ts';
import { activeL1 } from './overlap/structures.ts';

const OFFSET_MASK = 0x00fffffffffffe00n;

export async function makeImageEmpty(image: Qcow2Image): Promise<void> {
  const refcounts = image.refcounts;
  if (!refcounts) throw new Error(`${image.filename}: the image is opened read-only`);
  await image.lock.write(async () => {
    const h = image.header;
    const cs = h.clusterSize;
    const hasDataFile = image.dataFile !== undefined;
    const l1 = image.map.l1;
    const entrySize = h.extendedL2 ? 16 : 8;

    // Everything the active L1 table reaches, gathered before anything changes.
    const released: number[] = [];
    for (let i = 0; i < l1.length; i++) {
      const l2Offset = l2TableOffset(l1[i]!);
      if (l2Offset === 0) continue;
      const table = await image.map.l2Table(l2Offset);
      const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
      for (let at = 0; at + entrySize <= table.length; at += entrySize) {
        const entry = view.getBigUint64(at);
        const mapping = decodeL2Entry(entry, h.clusterBits, hasDataFile);
        if (mapping.kind === 'compressed') {
          const first = Math.floor(mapping.hostOffset / cs);
          const last = Math.floor((mapping.hostOffset + mapping.compressedLength - 1) / cs);
          for (let c = first; c <= last; c++) released.push(c);
        } else if (!hasDataFile) {
          // Data and preallocated zero clusters hold a host cluster (in the data file there are no refcounts).
          const host = Number(entry & OFFSET_MASK);
          if (host !== 0) released.push(host / cs);
        }
      }
      released.push(l2Offset / cs);
    }
    if (released.length === 0 && l1.every((entry) => entry === 0n)) return;

    await image.overlap.write(h.l1TableOffset, new Uint8Array(l1.length * 8), activeL1(h));
    await image.child.flush();
    l1.fill(0n);
    await refcounts.change(released, -1n);
    await image.child.flush();
  });
}
