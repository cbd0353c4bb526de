import type { BlockNode } from '@tessera/core';
import { corrupt } from '../errors.ts';
import type { Qcow2Image } from '../image.ts';
import { MAX_L1_BYTES } from '../limits.ts';
import type { SnapshotRecord } from './table.ts';

/**
 * The snapshot an id or name names (the first of equal names): ids first, as qemu-img's apply
 * looks, or names first, as its delete looks (which takes names only).
 */
export function findSnapshot(records: readonly SnapshotRecord[], idOrName: string, namesFirst = false): SnapshotRecord {
  const byId = () => records.find((record) => record.id === idOrName);
  const byName = () => records.find((record) => record.name === idOrName);
  const found = namesFirst ? (byName() ?? byId()) : (byId() ?? byName());
  if (!found) throw new Error('snapshot not found');
  return found;
}

/** A snapshot's L1 table, its offset and size checked first. */
export async function readSnapshotL1(image: Qcow2Image, record: Pick<SnapshotRecord, 'id' | 'l1TableOffset' | 'l1Size'>): Promise<BigUint64Array> {
  const file: BlockNode = image.child;
  const { l1TableOffset: offset, l1Size: size } = record;
  const bad = (what: string) => corrupt(file.filename, `snapshot ${record.id}: ${what}`);
  if (size * 8 > MAX_L1_BYTES) throw bad('L1 table is too large');
  if (size === 0) return new BigUint64Array(0);
  if (offset % image.header.clusterSize !== 0 || offset === 0) throw bad(`L1 table offset ${offset} is invalid`);
  if (offset + size * 8 > file.size) throw bad('L1 table lies beyond the end of the file');
  const bytes = new Uint8Array(size * 8);
  await file.read(offset, bytes);
  const view = new DataView(bytes.buffer);
  return BigUint64Array.from({ length: size }, (_, i) => view.getBigUint64(i * 8));
}

/** The clusters `size` L1 entries occupy. */
export function l1Clusters(size: number, clusterSize: number): number {
  return Math.ceil((size * 8) / clusterSize);
}
