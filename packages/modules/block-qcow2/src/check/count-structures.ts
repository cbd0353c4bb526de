// Counting the references of the image's own structures besides the L1/L2 tables: the header
// cluster, the snapshot table, the refcount table and blocks, persistent bitmaps.
import type { BlockNode } from '@tessera/core';
import type { Qcow2Header } from '../header/header.ts';
import { readHost } from '../host-read.ts';
import type { SnapshotEntry } from '../snapshot/table.ts';
import { MAX_L1_BYTES } from '../limits.ts';
import { countL1, type WalkContext } from './count-tables.ts';
import { hex } from './result.ts';
import { REFTABLE_OFFSET_MASK, REFTABLE_RESERVED_MASK, type StoredRefcounts } from './stored-refcounts.ts';

/** Every snapshot's L1 table, after the checks of its table entry. */
export async function countSnapshots(context: WalkContext, snapshots: readonly SnapshotEntry[]): Promise<void> {
  const { tally, header } = context;
  if (context.hasDataFile && snapshots.length) tally.corrupt(`ERROR ${snapshots.length} snapshots in image with data file`);
  for (const snapshot of snapshots) {
    const name = `${snapshot.id} (${snapshot.name})`;
    if (snapshot.l1TableOffset % header.clusterSize !== 0) {
      tally.corrupt(`ERROR snapshot ${name} l1_offset=${cHex(snapshot.l1TableOffset)}: L1 table is not cluster aligned; snapshot table entry corrupted`);
      continue;
    }
    if (snapshot.l1Size > MAX_L1_BYTES / 8) {
      tally.corrupt(`ERROR snapshot ${name} l1_size=${cHex(snapshot.l1Size)}: L1 table is too large; snapshot table entry corrupted`);
      continue;
    }
    await countL1(context, snapshot.l1TableOffset, snapshot.l1Size, undefined);
  }
}

/** C's `%#x`: a 0x prefix except for zero. */
const cHex = (value: number) => (value === 0 ? '0' : `0x${hex(value)}`);

/** Bytes the snapshot table takes: its entries, each padded to 8 bytes (the open already bounded them). */
export async function snapshotTableBytes(file: BlockNode, header: Qcow2Header): Promise<number> {
  let at = 0;
  const fixed = new Uint8Array(40);
  const view = new DataView(fixed.buffer);
  for (let i = 0; i < header.nbSnapshots; i++) {
    await readHost(file, header.snapshotsOffset + at, fixed);
    at += Math.ceil((40 + view.getUint32(36) + view.getUint16(12) + view.getUint16(14)) / 8) * 8;
  }
  return at;
}

/**
 * The refcount blocks the table points to: each counted, and each must end up with exactly one
 * reference. Returns whether the refcount structure itself is broken (only a rebuild could fix it).
 */
export function countRefcountBlocks(context: WalkContext, stored: StoredRefcounts): boolean {
  const { tally, references, header } = context;
  let broken = false;
  stored.table.forEach((entry, i) => {
    const offset = entry & REFTABLE_OFFSET_MASK;
    if (entry & REFTABLE_RESERVED_MASK) {
      tally.corrupt(`ERROR refcount table entry ${i} has reserved bits set`);
      broken = true;
      return;
    }
    if (offset === 0n) return;
    const cluster = offset / BigInt(header.clusterSize);
    if (cluster >= BigInt(references.clusters)) {
      tally.corrupt(`ERROR refcount block ${i} is outside image`);
      return;
    }
    references.add(offset, header.clusterSize);
    const count = references.get(Number(cluster));
    if (count !== 1) {
      tally.corrupt(`ERROR refcount block ${i} refcount=${count}`);
      broken = true;
    }
  });
  return broken;
}

const BITMAPS_EXTENSION = 0x23852875;
const BITMAP_OFFSET_MASK = 0x00fffffffffffe00n;
const BITMAP_RESERVED_MASK = 0xff000000000001fen;
/** QEMU's bounds: 64 MiB of bitmap directory, 2^27 entries of bitmap table. */
const MAX_DIRECTORY_BYTES = 64 * 2 ** 20;
const MAX_BITMAP_TABLE_ENTRIES = 2 ** 27;

/** Persistent bitmaps: their directory, each bitmap's table and the clusters the tables use. */
export async function countBitmaps(context: WalkContext): Promise<void> {
  const { file, header, tally, references } = context;
  const where = await bitmapDirectory(file, header);
  if (!where) return;
  references.add(BigInt(where.offset), where.size);
  if (where.size > MAX_DIRECTORY_BYTES || where.offset % header.clusterSize !== 0) {
    tally.corrupt('ERROR bitmap directory is invalid');
    return;
  }
  const directory = new Uint8Array(where.size);
  await readHost(file, where.offset, directory);
  const view = new DataView(directory.buffer);
  for (let at = 0; at + 24 <= directory.length; ) {
    const tableOffset = view.getBigUint64(at);
    const tableSize = view.getUint32(at + 8);
    const nameSize = view.getUint16(at + 18);
    const extraSize = view.getUint32(at + 20);
    at += Math.ceil((24 + extraSize + nameSize) / 8) * 8;
    if (tableSize > MAX_BITMAP_TABLE_ENTRIES || tableOffset % BigInt(header.clusterSize) !== 0n) {
      tally.corruptions++;
      break;
    }
    references.add(tableOffset, tableSize * 8);
    // The table in cluster-sized pieces: it may be large.
    const piece = new Uint8Array(header.clusterSize);
    const pieceView = new DataView(piece.buffer);
    for (let read = 0; read < tableSize * 8; read += piece.length) {
      await readHost(file, Number(tableOffset) + read, piece);
      for (let e = 0; e < piece.length && read + e < tableSize * 8; e += 8) {
        const entry = pieceView.getBigUint64(e);
        const offset = entry & BITMAP_OFFSET_MASK;
        if (entry & BITMAP_RESERVED_MASK || (offset !== 0n && (entry & 1n || offset % BigInt(header.clusterSize) !== 0n))) {
          tally.corruptions++;
          continue;
        }
        if (offset !== 0n) references.add(offset, header.clusterSize);
      }
    }
  }
}

/** The bitmaps header extension's directory location, when the image has bitmaps. */
async function bitmapDirectory(file: BlockNode, header: Qcow2Header): Promise<{ offset: number; size: number } | undefined> {
  if (!header.extensions.hasBitmaps) return undefined;
  const head = new Uint8Array(header.clusterSize);
  await readHost(file, 0, head);
  const view = new DataView(head.buffer);
  for (let at = header.headerLength; at + 8 <= head.length; ) {
    const type = view.getUint32(at);
    const length = view.getUint32(at + 4);
    if (type === 0) return undefined;
    if (type === BITMAPS_EXTENSION && length >= 24 && at + 8 + 24 <= head.length) {
      if (view.getUint32(at + 8) === 0) return undefined;
      return { size: Number(view.getBigUint64(at + 16)), offset: Number(view.getBigUint64(at + 24)) };
    }
    at += 8 + Math.ceil(length / 8) * 8;
  }
  return undefined;
}
