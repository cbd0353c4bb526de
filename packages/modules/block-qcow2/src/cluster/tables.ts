// The active tables' walk and entry writes, written once for every operation that changes them
// outside the guest-write path's cache (snapshots, resize, preallocation, amend, make-empty, check
// repairs) and for the writer's L1 entries: an L1 entry or a span of L2 entries is written through
// the overlap guard, declaring the table it rewrites; an L1 table is walked to its L2 tables.
import type { BlockNode } from '@tessera/core';
import type { Qcow2Header } from '../header/header.ts';
import { entryBytes, l2TableOffset } from '../layout.ts';
import type { OverlapGuard } from '../overlap/guard.ts';
import { activeL1, l2Table } from '../overlap/structures.ts';
import type { ClusterMap } from './mapping.ts';

/** What writing the active tables needs (the image's state, or the writer's view of it). */
export interface ActiveTables {
  readonly child: BlockNode;
  readonly header: Qcow2Header;
  readonly map: Pick<ClusterMap, 'l1'>;
  readonly overlap: Pick<OverlapGuard, 'checkWrite'> | undefined;
}

/** Entry `index` of the active L1 table set to `entry`: written (not synced), and in memory. */
export async function writeL1Entry(tables: ActiveTables, index: number, entry: bigint): Promise<void> {
  const at = tables.header.l1TableOffset + index * 8;
  await tables.overlap?.checkWrite(at, 8, activeL1(tables.header));
  await tables.child.write(at, entryBytes(entry));
  tables.map.l1[index] = entry;
}

/**
 * Bytes `[from, to)` of the L2 table at `l2Offset` (`table`, changed in memory) written, not
 * synced. `inactive`: a table only a snapshot's L1 table reaches.
 */
export async function writeL2Entries(tables: ActiveTables, l2Offset: number, table: Uint8Array, from: number, to: number, inactive = false): Promise<void> {
  await tables.overlap?.checkWrite(l2Offset + from, to - from, l2Table(tables.header, l2Offset, inactive));
  await tables.child.write(l2Offset + from, table.subarray(from, to));
}

/**
 * Each L2 table an L1 table points to, in order: `visit` gets the table (from `load`), a view of it,
 * its offset and its L1 index. Unallocated entries are skipped.
 */
export async function forEachL2Table(
  l1: ArrayLike<bigint>,
  load: (offset: number) => Promise<Uint8Array>,
  visit: (table: Uint8Array, view: DataView, l2Offset: number, l1Index: number) => Promise<void> | void,
): Promise<void> {
  for (let i = 0; i < l1.length; i++) {
    const l2Offset = l2TableOffset(l1[i]!);
    if (l2Offset === 0) continue;
    const table = await load(l2Offset);
    await visit(table, new DataView(table.buffer, table.byteOffset, table.byteLength), l2Offset, i);
  }
}

/**
 * Change entries of the cached L2 table at `l2Offset` in place: `update` returns an entry's new
 * value, or undefined to keep it. The span of changed entries is written (through the guard).
 */
export async function updateL2Entries(
  tables: ActiveTables & { readonly map: Pick<ClusterMap, 'l2Table'> },
  l2Offset: number,
  entrySize: number,
  update: (entry: bigint, at: number) => bigint | undefined | Promise<bigint | undefined>,
): Promise<void> {
  const table = await tables.map.l2Table(l2Offset); // the cached copy, which the writer uses
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  let low = Infinity;
  let high = -Infinity;
  for (let at = 0; at < table.length; at += entrySize) {
    const entry = view.getBigUint64(at);
    const wanted = await update(entry, at);
    if (wanted === undefined || wanted === entry) continue;
    view.setBigUint64(at, wanted);
    low = Math.min(low, at);
    high = Math.max(high, at + 8);
  }
  if (low < high) await writeL2Entries(tables, l2Offset, table, low, high);
}
