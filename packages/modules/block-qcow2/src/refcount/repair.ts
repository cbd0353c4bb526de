// Rebuilding the refcounts of a dirty image (lazy refcounts, not closed cleanly), as QEMU does
// when it opens one for writing: every cluster the metadata references (internal snapshots'
// tables included) is counted, and the refcounts that differ are set, the raised ones first
// (synced), then the lowered ones.
import type { BlockNode } from '@tessera/core';
import { corrupt } from '../errors.ts';
import type { Qcow2Header } from '../header/header.ts';
import { forEachL2Table } from '../cluster/tables.ts';
import { decodeL2Entry, decodeTable, l2EntrySize, l2HostOffset } from '../layout.ts';
import type { Refcounts } from './refcounts.ts';
import { MAX_L1_BYTES } from '../limits.ts';
import { readSnapshotRecords } from '../snapshot/table.ts';

export async function rebuildRefcounts(file: BlockNode, header: Qcow2Header, l1: BigUint64Array, refcounts: Refcounts): Promise<void> {
  const cs = header.clusterSize;
  const counts = new Map<number, number>();
  const count = (offset: number, length = cs) => {
    for (let c = Math.floor(offset / cs); c <= Math.floor((offset + length - 1) / cs); c++) counts.set(c, (counts.get(c) ?? 0) + 1);
  };
  count(0);
  if (header.l1Size > 0) count(header.l1TableOffset, header.l1Size * 8);
  const encryption = header.extensions.encryption; // the LUKS header's clusters (checked at open)
  if (encryption) count(Number(encryption.offset), Number(encryption.size));
  for (const offset of refcounts.metadata()) count(offset);
  const entrySize = l2EntrySize(header.extendedL2);
  const table = new Uint8Array(cs);
  // Every L2 table read from the file into one buffer, after the checks QEMU makes.
  const load = async (l2: number) => {
    if (l2 % cs !== 0 || l2 + cs > file.size) throw corrupt(file.filename, `L2 table offset ${l2} is invalid`);
    await file.read(l2, table);
    return table;
  };
  // Every L1 table (the active one, each snapshot's) counts its L2 tables and what they reference.
  const countL1 = (entries: BigUint64Array) =>
    forEachL2Table(entries, load, (_table, view, l2) => {
      count(l2);
      for (let at = 0; at < cs; at += entrySize) {
        const raw = view.getBigUint64(at);
        const mapping = decodeL2Entry(raw, header.clusterBits, false);
        if (mapping.kind === 'compressed') count(mapping.hostOffset, mapping.compressedLength);
        else if (l2HostOffset(raw) !== 0) count(l2HostOffset(raw));
      }
    });
  await countL1(l1);
  const snapshots = await readSnapshotRecords(file, header);
  if (snapshots.bytes > 0) count(header.snapshotsOffset, snapshots.bytes);
  for (const snapshot of snapshots.records) {
    if (snapshot.l1Size === 0) continue;
    const { l1TableOffset: offset, l1Size: size } = snapshot;
    if (offset % cs !== 0 || offset + size * 8 > file.size || size * 8 > MAX_L1_BYTES) throw corrupt(file.filename, `snapshot ${snapshot.id}: L1 table is invalid`);
    count(offset, size * 8);
    const bytes = new Uint8Array(size * 8);
    await file.read(offset, bytes);
    await countL1(decodeTable(bytes));
  }
  // Past the refcounts' last cluster in use only counted clusters can differ (a sparse file's
  // size says nothing about what its metadata uses).
  let last = Math.min(Math.ceil(file.size / cs), refcounts.usedEnd);
  for (const cluster of counts.keys()) last = Math.max(last, cluster + 1);
  const raise = new Map<number, bigint>();
  const lower = new Map<number, bigint>();
  for (let c = 0; c < last; c++) {
    const want = BigInt(counts.get(c) ?? 0);
    const stored = await refcounts.get(c);
    if (want > stored) raise.set(c, want);
    else if (want < stored) lower.set(c, want);
  }
  await refcounts.set(raise);
  await file.flush();
  await refcounts.set(lower);
  await file.flush();
}
