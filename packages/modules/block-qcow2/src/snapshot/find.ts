import type { BlockNode } from '@tessera/core';
import { corrupt } from '../errors.ts';
import { decodeTable } from '../layout.ts';
import type { Qcow2State } from '../state.ts';
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
export async function readSnapshotL1(image: Qcow2State, record: Pick<SnapshotRecord, 'id' | 'l1TableOffset' | 'l1Size'>): Promise<BigUint64Array> {
  const file: BlockNode = image.child;
  const { l1TableOffset: offset, l1Size: size } = record;
  const bad = (what: string) => corrupt(file.filename, `snapshot ${record.id}: ${what}`);
  if (size * 8 > MAX_L1_BYTES) throw bad('L1 table is too large');
  if (size === 0) return new BigUint64Array(0);
  if (offset % image.header.clusterSize !== 0 || offset === 0) throw bad(`L1 table offset ${offset} is invalid`);
  if (offset + size * 8 > file.size) throw bad('L1 table lies beyond the end of the file');
  const bytes = new Uint8Array(size * 8);
  await file.read(offset, bytes);
  return decodeTable(bytes);
}
