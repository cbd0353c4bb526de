import type { BlockNode } from '@tessera/core';

/**
 * Point the header at another refcount table: its offset and size in clusters (bytes 48–59) in
 * one write, inside one sector so it lands whole, then synced. The caller has synced the table.
 */
export async function writeRefcountTablePlace(file: BlockNode, offset: number, clusters: number): Promise<void> {
  const fields = new Uint8Array(12);
  const view = new DataView(fields.buffer);
  view.setBigUint64(0, BigInt(offset));
  view.setUint32(8, clusters);
  await file.write(48, fields);
  await file.flush();
}
