// Applying (reverting to) an internal snapshot: its L1 table's content becomes the active one's.
//
// Order on disk: everything the snapshot reaches gains a reference (synced); the active L1 table
// is overwritten with the snapshot's entries, COPIED clear (synced), and the virtual size follows
// the snapshot's (synced) - or, when the snapshot needs a larger L1 table, the new table goes to
// new clusters and the header switches to it and the size in one write; then everything the old
// active table reached loses its reference (synced). A crash leaves leaks at most. Last, COPIED
// is set where a refcount is 1 (normally nowhere: the snapshot still shares every cluster).
import type { Qcow2State } from '../state.ts';
import { corrupt } from '../errors.ts';
import { MAX_L1_BYTES } from '../limits.ts';
import { COPIED, syncCopiedFlags, writeL1 } from './copied.ts';
import { findSnapshot, readSnapshotL1 } from './find.ts';
import { l1EntriesFor, tableClusters } from '../layout.ts';
import { l1Fields, sizeField, writeHeaderFields } from '../header/fields.ts';
import { allClusters, checkRefcountChange, l1References } from './references.ts';
import { readSnapshotRecords } from './table.ts';
import { inStep } from '../overlap/guard.ts';
import { activeL1 } from '../overlap/structures.ts';

/** A refused write fails as qemu-img's apply reports it. */
export function applySnapshot(image: Qcow2State, idOrName: string): Promise<void> {
  return inStep((reason) => `Failed to load snapshot: ${reason}`, () => apply(image, idOrName));
}

async function apply(image: Qcow2State, idOrName: string): Promise<void> {
  const refcounts = image.refcounts!;
  const h = image.header;
  const { records } = await readSnapshotRecords(image.child, h);
  const record = findSnapshot(records, idOrName);
  const snapshotL1 = await readSnapshotL1(image, record);
  const size = record.diskSize ?? h.size;
  const l1Size = Math.max(h.l1Size, snapshotL1.length, l1EntriesFor(size, h.clusterSize, h.extendedL2));
  if (l1Size * 8 > MAX_L1_BYTES) throw corrupt(image.filename, `snapshot ${record.id}: its disk size needs too large an L1 table`);
  const active = image.map.l1;
  const gained = allClusters(await l1References(image, snapshotL1));
  const lost = allClusters(await l1References(image, active));
  await checkRefcountChange(image, gained, 1n);
  await checkRefcountChange(image, lost, -1n);

  await refcounts.change(gained, 1n);
  await image.child.flush();

  const l1 = new BigUint64Array(l1Size);
  snapshotL1.forEach((entry, i) => (l1[i] = entry & ~COPIED));
  if (l1Size === h.l1Size) {
    // The usual case (QEMU never shrinks an L1 table): overwritten in place.
    await writeL1(image, h.l1TableOffset, l1, activeL1(h));
    await image.child.flush();
    active.set(l1);
    if (size !== h.size) {
      await writeHeaderFields(image.overlap, sizeField(size));
      await image.child.flush();
      image.header = { ...image.header, size };
    }
  } else {
    // A larger table: written elsewhere, then the header switched to it (size, L1 size and offset
    // in one write), then the old one freed.
    const cs = h.clusterSize;
    const l1TableOffset = await refcounts.allocateRun(tableClusters(l1Size, cs));
    await writeL1(image, l1TableOffset, l1);
    await image.child.flush();
    await writeHeaderFields(image.overlap, l1Fields({ size, cryptMethod: h.cryptMethod, l1Size, l1TableOffset }));
    await image.child.flush();
    image.replaceTables({ ...image.header, size, l1Size, l1TableOffset }, l1);
    if (h.l1Size > 0) await refcounts.release(h.l1TableOffset / cs, tableClusters(h.l1Size, cs));
  }

  await refcounts.change(lost, -1n);
  await image.child.flush();
  await syncCopiedFlags(image);
}
