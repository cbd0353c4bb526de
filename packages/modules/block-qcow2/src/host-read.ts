import type { BlockNode } from '@tessera/core';

/** Read from a host file, with bytes past its end reading as zeroes (as QEMU's file driver does). */
export async function readHost(node: BlockNode, offset: number, into: Uint8Array): Promise<void> {
  const available = Math.max(0, Math.min(into.length, node.size - offset));
  if (available > 0) await node.read(offset, into.subarray(0, available));
  into.fill(0, available);
}
