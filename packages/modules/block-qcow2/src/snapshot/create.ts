// Creating an internal snapshot: the active L1 table is copied, and everything it reaches gains
// a reference (the copy's), so that later guest writes copy shared clusters instead of changing them.
//
// Order on disk: the copy of the L1 table (new clusters, synced); COPIED cleared in the active
// tables (synced); refcounts raised (synced); then the new snapshot table and the header switch
// to it. A crash before the switch leaves the copy and the raised refcounts as leaks. (Between
// the first two steps qemu-img check would also report the cleared COPIED flags, which only make
// writes copy first: no step order avoids that, since a flag and a refcount never change together.)
import type { Qcow2State } from '../state.ts';
import { MAX_SNAPSHOTS } from '../limits.ts';
import { COPIED, writeL1 } from './copied.ts';
import { allClusters, checkRefcountChange, l1References } from './references.ts';
import { readSnapshotRecords, type SnapshotRecord } from './table.ts';
import { installSnapshotTable } from './write-table.ts';
import { inStep } from '../overlap/guard.ts';
import { activeL1 } from '../overlap/structures.ts';
import { updateL2Entries } from '../cluster/tables.ts';
import { l2EntrySize, l2TableOffset, tableClusters } from '../layout.ts';

/** A refused write fails as qemu-img reports bdrv_snapshot_create's errno. */
export function createSnapshot(image: Qcow2State, name: string, now = Date.now()): Promise<void> {
  return inStep((reason) => `-5 (${reason})`, () => create(image, name, now));
}

async function create(image: Qcow2State, name: string, now: number): Promise<void> {
  const refcounts = image.refcounts!;
  const h = image.header;
  const cs = h.clusterSize;
  const table = await readSnapshotRecords(image.child, h);
  if (table.records.length >= MAX_SNAPSHOTS) throw new Error('-27 (File too large)');
  const active = image.map.l1;
  const references = await l1References(image, active);
  const clusters = allClusters(references);
  // Every cluster gains one reference: refused before anything is written when that cannot be.
  await checkRefcountChange(image, clusters, 1n);

  // 1. The snapshot's L1 table: a copy of the active one (its COPIED flags mean nothing there).
  let l1TableOffset = 0;
  if (active.length > 0) {
    l1TableOffset = await refcounts.allocateRun(tableClusters(active.length, cs));
    await writeL1(image, l1TableOffset, active.map((entry) => entry & ~COPIED));
    await image.child.flush();
  }

  // 2. The active tables share everything from now on: no entry may be written in place.
  for (let i = 0; i < active.length; i++) {
    if ((active[i]! & COPIED) === 0n || (active[i]! & ~COPIED) === 0n) continue;
    await clearCopiedInTable(image, l2TableOffset(active[i]!));
  }
  for (let i = 0; i < active.length; i++) active[i] = active[i]! & ~COPIED;
  await writeL1(image, h.l1TableOffset, active, activeL1(h));
  await image.child.flush();

  // 3. The new references.
  await refcounts.change(clusters, 1n);
  await image.child.flush();

  // 4. The table entry (what qemu-img writes: no VM state, clock 0, icount 0, and the extra data
  // with the 64-bit VM state size and the disk size).
  const extraData = new Uint8Array(24);
  new DataView(extraData.buffer).setBigUint64(8, BigInt(h.size));
  const record: SnapshotRecord = {
    id: nextId(table.records),
    name,
    vmStateSize: 0,
    dateSec: Math.floor(now / 1000),
    dateNsec: (now % 1000) * 1e6,
    vmClockNsec: 0,
    icount: 0,
    l1TableOffset,
    l1Size: active.length,
    diskSize: h.size,
    extraData,
  };
  await installSnapshotTable(image, table, [...table.records, record]);
}

/** QEMU's choice: one more than the largest numeric id (names that are not numbers count as 0). */
function nextId(records: readonly SnapshotRecord[]): string {
  let max = 0;
  for (const { id } of records) {
    const n = /^\d+$/.test(id) ? Number(id) : 0;
    if (n > max) max = n;
  }
  return String(max + 1);
}

function clearCopiedInTable(image: Qcow2State, offset: number): Promise<void> {
  return updateL2Entries(image, offset, l2EntrySize(image.header.extendedL2), (entry) => entry & ~COPIED);
}
