import { statSync } from 'node:fs';
import { protocolOf, type BlockNode, type Host } from '@tessera/core';

/**
 * Whether a local location is a block device (qemu's host_device): it is not created or truncated,
 * and it is not known to read as zeroes, so a copy onto it must write its zeroes too.
 */
export function isBlockDevice(location: string): boolean {
  if (protocolOf(location) !== 'file') return false;
  try {
    return statSync(location).isBlockDevice();
  } catch {
    return false;
  }
}

/**
 * Whether an opened image shows a block device's bytes as they are (raw over host_device): then it
 * does not read as zeroes when created. (A new image of a format with metadata reads as zeroes wherever it lies.)
 */
export function showsBlockDevice(host: Host, node: BlockNode): boolean {
  if (!host.block.mapsDirectly(node)) return false;
  let bottom = node;
  while (bottom.child) bottom = bottom.child;
  return bottom.driver === 'file' && isBlockDevice(bottom.filename);
}
