// Preallocation of guest clusters (create and resize with -o preallocation / --preallocation):
// every unallocated cluster of a range gets an L2 entry and a host cluster, laid out as QEMU lays
// them for `metadata` (each L2 table followed by the clusters it maps). `metadata` leaves the host
// clusters unwritten (the file is only extended over them, sparse); `falloc` and `full` write
// zeroes into them (Node has no fallocate, so `falloc` allocates the blocks the way `full` does).
//
// Order: refcounts (synced by allocate), then the zeroes, sync, then the entries; a new L2 table
// is written and synced before the L1 entry points to it.
import { OFLAG_COPIED as COPIED, geometry, ownedEntry, refcountBlockOffsetOf, l2TableOffset, tableBytes } from './layout.ts';
import { writeL2Entries } from './cluster/tables.ts';
import { INCOMPAT_DATA_FILE } from './header/features.ts';
import { writeRefcountTablePlace } from './header/refcount-table-place.ts';
import type { Qcow2State } from './state.ts';
import type { BlockNode } from '@tessera/core';
import { entriesPerBlock, setRefcount } from './refcount/entries.ts';
const ZERO_CHUNK = 2 * 1024 * 1024;

export type PreallocationMode = 'metadata' | 'falloc' | 'full';

export async function preallocate(image: Qcow2State, from: number, to: number, mode: string): Promise<void> {
  const h = image.header;
  const cs = h.clusterSize;
  const refcounts = image.refcounts!;
  const writer = image.writer!;
  const { l2EntrySize: entrySize, l2Entries } = geometry(h);
  const firstCluster = Math.floor(from / cs);
  const endCluster = Math.ceil(to / cs);
  const external = (h.incompatible & INCOMPAT_DATA_FILE) !== 0n;
  let fileEnd = 0;
  for (let cluster = firstCluster; cluster < endCluster; ) {
    const l1Index = Math.floor(cluster / l2Entries);
    const spanEnd = Math.min(endCluster, (l1Index + 1) * l2Entries);
    const allocated = l2TableOffset(image.map.l1[l1Index]!) !== 0;
    if (allocated && (image.map.l1[l1Index]! & COPIED) === 0n) {
      throw new Error('Preallocating into an L2 table shared with an internal snapshot is not supported');
    }
    // The walk to the table as the writer takes it: a new (zeroed) one when there is none.
    const { l2Offset, table, view } = await writer.entryFor(cluster * cs);
    if (!allocated) fileEnd = Math.max(fileEnd, l2Offset + cs);
    const empty: number[] = [];
    const guest: number[] = [];
    for (let c = cluster; c < spanEnd; c++) {
      const at = (c % l2Entries) * entrySize;
      if (view.getBigUint64(at) === 0n && (!h.extendedL2 || view.getBigUint64(at + 8) === 0n)) {
        empty.push(at);
        guest.push(c * cs);
      }
    }
    if (empty.length) {
      // In an external data file a cluster's host offset is its guest offset, and not refcounted.
      const offsets = external ? guest : await refcounts.allocate(empty.length);
      const target = external ? image.dataFile : image.child;
      // Clusters the refcounts call free must hold no metadata, written (falloc, full) or only mapped (metadata).
      if (!external) await image.overlap.checkClusters(offsets);
      if (mode !== 'metadata' && target) await writeZeroes(target, offsets, cs);
      await target?.flush();
      // Extended L2: the host cluster is the entry's, its subclusters stay unallocated (as QEMU leaves them).
      empty.forEach((at, i) => view.setBigUint64(at, ownedEntry(offsets[i]!)));
      await writeL2Entries(image, l2Offset, table, empty[0]!, empty.at(-1)! + entrySize);
      if (!external) fileEnd = Math.max(fileEnd, offsets.at(-1)! + cs);
    }
    cluster = spanEnd;
  }
  await image.child.flush();
  // `metadata`: the file reaches over the clusters it does not write (QEMU sizes it so too).
  if (fileEnd > image.child.size && image.child.resize) await image.child.resize(fileEnd, { shrink: false });
}

/** Zeroes into the clusters at `offsets`, runs of neighbours in large writes. */
async function writeZeroes(file: BlockNode, offsets: readonly number[], cs: number): Promise<void> {
  const zeroes = new Uint8Array(Math.max(cs, ZERO_CHUNK - (ZERO_CHUNK % cs)));
  for (let i = 0; i < offsets.length; ) {
    let j = i + 1;
    while (j < offsets.length && offsets[j] === offsets[j - 1]! + cs && (j - i + 1) * cs <= zeroes.length) j++;
    await file.write(offsets[i]!, zeroes.subarray(0, (j - i) * cs));
    i = j;
  }
}

/**
 * `falloc`/`full` on a freshly created image, laid out as QEMU lays it out: QEMU grows the image
 * from nothing, so it writes a new refcount table (and the refcount blocks the data needs) after
 * the metadata, the data clusters after that in one run, the first L2 table where the old refcount
 * table was and the others after the data. The new image: header, refcount table and blocks, L1
 * table from cluster 0, nothing else (create.ts made it), no backing or data file.
 */
export async function preallocateFresh(image: Qcow2State, size: number, mode: PreallocationMode): Promise<void> {
  const h = image.header;
  const cs = h.clusterSize;
  const file = image.child;
  const { l2EntrySize: entrySize, l2Entries } = geometry(h);
  const perBlock = entriesPerBlock(cs, h.refcountOrder);
  const dataClusters = Math.ceil(size / cs);
  const tables = Math.ceil(dataClusters / l2Entries);
  const oldTableStart = h.refcountTableOffset / cs;
  const oldTableEnd = oldTableStart + h.refcountTableClusters;
  const oldTable = new Uint8Array(h.refcountTableClusters * cs);
  await file.read(h.refcountTableOffset, oldTable);
  const oldTableView = new DataView(oldTable.buffer);
  const oldBlocks: number[] = [];
  for (let i = 0; i < oldTable.length / 8; i++) {
    const offset = refcountBlockOffsetOf(oldTableView.getBigUint64(i * 8));
    if (offset) oldBlocks[i] = offset / cs;
  }
  const start = Math.ceil(file.size / cs); // every cluster before it is in use
  // New refcount blocks (for the ranges no block covers) and a new table: a fixed point.
  let newBlocks = 0;
  let tableClusters = 1;
  for (;;) {
    const end = start + newBlocks + tableClusters + dataClusters + tables;
    const ranges = Math.max(oldBlocks.length, Math.ceil(end / perBlock));
    const blocksNeeded = ranges - oldBlocks.filter((b) => b !== undefined).length;
    const tableNeeded = Math.ceil((ranges * 8) / cs);
    if (blocksNeeded <= newBlocks && tableNeeded <= tableClusters) break;
    newBlocks = Math.max(newBlocks, blocksNeeded);
    tableClusters = Math.max(tableClusters, tableNeeded);
  }
  const tableStart = start + newBlocks;
  const dataStart = tableStart + tableClusters;
  // L2 tables: the old refcount table's clusters first, then after the data.
  const l2Clusters: number[] = [];
  for (let c = oldTableStart; c < oldTableEnd && l2Clusters.length < tables; c++) l2Clusters.push(c);
  for (let c = dataStart + dataClusters; l2Clusters.length < tables; c++) l2Clusters.push(c);
  const end = Math.max(dataStart + dataClusters, l2Clusters.at(-1)! + 1);

  // The refcount blocks: the old ones where they are, the new ones from `start`, in range order.
  const blockAt: number[] = [];
  let next = start;
  const ranges = Math.ceil(end / perBlock);
  for (let r = 0; r < Math.max(ranges, oldBlocks.length); r++) blockAt[r] = oldBlocks[r] ?? next++;
  const blocks = new Map<number, Uint8Array>(blockAt.map((cluster) => [cluster, new Uint8Array(cs)]));
  const count = (cluster: number) => setRefcount(blocks.get(blockAt[Math.floor(cluster / perBlock)]!)!, cluster % perBlock, h.refcountOrder, 1n);
  for (let c = 0; c < end; c++) if (c < oldTableStart || c >= oldTableEnd || l2Clusters.includes(c)) count(c);

  // Data (zeroes), L2 tables, refcount blocks and table; then the header switches tables, then the L1 entries.
  const zeroes = new Uint8Array(Math.max(cs, ZERO_CHUNK - (ZERO_CHUNK % cs)));
  for (let at = dataStart * cs; at < (dataStart + dataClusters) * cs; at += zeroes.length) {
    await file.write(at, zeroes.subarray(0, Math.min(zeroes.length, (dataStart + dataClusters) * cs - at)));
  }
  const l1 = new Uint8Array(h.l1Size * 8);
  const l1View = new DataView(l1.buffer);
  for (let t = 0; t < tables; t++) {
    const table = new Uint8Array(cs);
    const view = new DataView(table.buffer);
    for (let i = 0; i < l2Entries && t * l2Entries + i < dataClusters; i++) {
      view.setBigUint64(i * entrySize, ownedEntry((dataStart + t * l2Entries + i) * cs));
    }
    await file.write(l2Clusters[t]! * cs, table);
    l1View.setBigUint64(t * 8, ownedEntry(l2Clusters[t]! * cs));
  }
  for (const [cluster, block] of blocks) await file.write(cluster * cs, block);
  await file.write(tableStart * cs, tableBytes(blockAt.map((cluster) => BigInt(cluster * cs)), tableClusters * cs));
  await file.flush();
  await writeRefcountTablePlace(file, tableStart * cs, tableClusters);
  await file.write(h.l1TableOffset, l1);
  await file.flush();
  void mode; // falloc and full both write the zeroes (see above)
}
