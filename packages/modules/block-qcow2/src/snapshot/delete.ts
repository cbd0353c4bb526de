// Deleting an internal snapshot: the table without its entry goes in first (synced); then the
// snapshot's references are dropped and its L1 table freed (synced), so a crash in between leaves
// leaks only. Last, COPIED is set again in the active tables where a refcount fell to 1 (a crash
// before that leaves COPIED clear where the refcount is 1, which qemu-img check reports: the safe
// side, a write copies needlessly; as in create.ts, no order avoids it).
import type { Qcow2State } from '../state.ts';
import { syncCopiedFlags } from './copied.ts';
import { findSnapshot, readSnapshotL1 } from './find.ts';
import { tableClusters } from '../layout.ts';
import { allClusters, checkRefcountChange, l1References } from './references.ts';
import { readSnapshotRecords } from './table.ts';
import { installSnapshotTable } from './write-table.ts';
import { inStep } from '../overlap/guard.ts';

export async function deleteSnapshot(image: Qcow2State, idOrName: string): Promise<void> {
  const refcounts = image.refcounts!;
  const cs = image.header.clusterSize;
  const table = await readSnapshotRecords(image.child, image.header);
  const record = findSnapshot(table.records, idOrName, true);
  const l1 = await readSnapshotL1(image, record);
  const references = allClusters(await l1References(image, l1));
  await checkRefcountChange(image, references, -1n);

  // A refused write fails with qemu-img's message for the step it was part of.
  await inStep((reason) => `Failed to remove snapshot from snapshot list: ${reason}`, () =>
    installSnapshotTable(image, table, table.records.filter((other) => other !== record)),
  );
  await inStep((reason) => `Failed to free the cluster and L1 table: ${reason}`, async () => {
    await refcounts.change(references, -1n);
    if (l1.length > 0) await refcounts.release(record.l1TableOffset / cs, tableClusters(l1.length, cs));
    await image.child.flush();
  });
  await inStep((reason) => `Failed to update snapshot status in disk: ${reason}`, () => syncCopiedFlags(image));
}
