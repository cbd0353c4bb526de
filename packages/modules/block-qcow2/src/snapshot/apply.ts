// Applying (reverting to) an internal snapshot: its L1 table's content becomes the active one's.
//
// Order on disk: everything the snapshot reaches gains a reference (synced), the active L1 table
// is overwritten with the snapshot's entries, COPIED clear (synced), the virtual size follows the
// snapshot's (synced), then everything the old active table reached loses its reference (synced).
// A crash leaves leaks at most. Last, COPIED is set where a refcount is 1 (normally nowhere: the
// snapshot still shares every cluster).
import type { Qcow2Image } from '../image.ts';
import { COPIED, syncCopiedFlags, writeL1 } from './copied.ts';
import { findSnapshot, readSnapshotL1 } from './find.ts';
import { allClusters, l1References } from './references.ts';
import { readSnapshotRecords } from './table.ts';

export async function applySnapshot(image: Qcow2Image, idOrName: string): Promise<void> {
  const refcounts = image.refcounts!;
  const h = image.header;
  const { records } = await readSnapshotRecords(image.child, h);
  const record = findSnapshot(records, idOrName);
  const snapshotL1 = await readSnapshotL1(image, record);
  const size = record.diskSize ?? h.size;
  const l2Reach = h.clusterSize * (h.clusterSize / (h.extendedL2 ? 16 : 8));
  if (snapshotL1.length > h.l1Size || Math.ceil(size / l2Reach) > h.l1Size) {
    // QEMU keeps L1 tables at their largest size, so only foreign images get here.
    throw new Error(`snapshot '${record.name}' needs a larger L1 table than the image has (not supported)`);
  }
  const active = image.map.l1;
  const gained = allClusters(await l1References(image, snapshotL1));
  const lost = allClusters(await l1References(image, active));

  await refcounts.change(gained, 1n);
  await image.child.flush();

  const l1 = new BigUint64Array(active.length);
  snapshotL1.forEach((entry, i) => (l1[i] = entry & ~COPIED));
  await writeL1(image, h.l1TableOffset, l1);
  await image.child.flush();
  active.set(l1);

  if (size !== h.size) {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(size));
    await image.child.write(24, bytes);
    await image.child.flush();
    image.header = { ...image.header, size };
  }

  await refcounts.change(lost, -1n);
  await image.child.flush();
  await syncCopiedFlags(image);
}
