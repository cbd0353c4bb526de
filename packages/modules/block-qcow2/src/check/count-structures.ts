// Counting the references of the image's own structures besides the L1/L2 tables: the snapshots'
// tables and the refcount blocks (bitmaps: count-bitmaps.ts).
import type { BlockNode } from '@tessera/core';
import type { Qcow2Header } from '../header/header.ts';
import { readHost } from '../host-read.ts';
import type { SnapshotEntry } from '../snapshot/table.ts';
import { MAX_L1_BYTES } from '../limits.ts';
import { countL1, type WalkContext } from './count-tables.ts';
import { hex } from './result.ts';
import type { StoredRefcounts } from './stored-refcounts.ts';
import { REFT_OFFSET_MASK, REFT_RESERVED_MASK, SNAPSHOT_FIELD as F, SNAPSHOT_FIXED_BYTES as FIXED } from '../layout.ts';

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
  const fixed = new Uint8Array(FIXED);
  const view = new DataView(fixed.buffer);
  for (let i = 0; i < header.nbSnapshots; i++) {
    await readHost(file, header.snapshotsOffset + at, fixed);
    at += Math.ceil((FIXED + view.getUint32(F.extraDataSize) + view.getUint16(F.idSize) + view.getUint16(F.nameSize)) / 8) * 8;
  }
  return at;
}

/**
 * The refcount blocks the table points to: each counted, and each must end up with exactly one
 * reference. A block past the end of the file is a corruption; with `growFile` (`-r all`) the file
 * is grown to hold it, as qemu-img does (it then reads as zeroes, which the comparison finds).
 * Returns whether the refcount structure itself is broken (only a rebuild could fix it).
 */
export async function countRefcountBlocks(context: WalkContext, stored: StoredRefcounts, growFile?: (size: number) => Promise<void>): Promise<boolean> {
  const { tally, references, header } = context;
  let broken = false;
  for (const [i, entry] of stored.table.entries()) {
    const offset = entry & REFT_OFFSET_MASK;
    if (entry & REFT_RESERVED_MASK) {
      tally.corrupt(`ERROR refcount table entry ${i} has reserved bits set`);
      broken = true;
      continue;
    }
    if (offset % BigInt(header.clusterSize) !== 0n) {
      tally.corrupt(`ERROR refcount block ${i} is not cluster aligned; refcount table entry corrupted`);
      broken = true;
      continue;
    }
    if (offset === 0n) continue;
    const cluster = offset / BigInt(header.clusterSize);
    if (cluster >= BigInt(references.clusters)) {
      tally.corrupt(`${growFile ? 'Repairing' : 'ERROR'} refcount block ${i} is outside image`);
      if (!growFile) continue;
      const end = Number(offset) + header.clusterSize;
      try {
        // Not so far that the count of clusters could not follow (strerror(EFBIG), as C says it).
        if (!Number.isSafeInteger(end) || !references.canGrowTo(end)) throw new Error('File too large');
        await growFile(end);
      } catch (error) {
        tally.messages.push(`ERROR could not resize image: ${(error as Error).message}`);
        broken = true;
        continue;
      }
      tally.corruptions--;
      tally.corruptionsFixed++;
      references.fileGrew(end);
      references.add(offset, header.clusterSize);
      continue;
    }
    references.add(offset, header.clusterSize);
    const count = references.get(Number(cluster));
    if (count !== 1) {
      tally.corrupt(`ERROR refcount block ${i} refcount=${count}`);
      broken = true;
    }
  }
  return broken;
}
