import type { BlockNode } from '@tessera/core';
import { refcountTableFields } from './fields.ts';

/**
 * Point the header at another refcount table: its offset and size in clusters (bytes 48–59) in
 * one write, inside one sector so it lands whole, then synced. The caller has synced the table.
 */
export async function writeRefcountTablePlace(file: BlockNode, offset: number, clusters: number): Promise<void> {
  const { offset: at, bytes } = refcountTableFields(offset, clusters);
  await file.write(at, bytes);
  await file.flush();
}
