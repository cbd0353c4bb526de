import type { BlockNode } from '@tessera/core';
import type { ParallelsCreateOptions } from './create-options.ts';
import { codedError } from '@tessera/module-kit/coded-error';
import { HEADER_BYTES, MAX_IMAGE_FACTOR, SECTOR, encodeHeader } from './layout.ts';

/** qemu's layout: ext magic, header and empty BAT padded to a whole cluster, where data starts. */
export async function createParallels(file: BlockNode, size: number, options: ParallelsCreateOptions): Promise<void> {
  const clusterSize = Math.ceil(options.clusterSize / SECTOR) * SECTOR;
  const sectors = Math.ceil(size / SECTOR);
  if (clusterSize === 0 || sectors * SECTOR >= MAX_IMAGE_FACTOR * clusterSize) {
    throw codedError(`Image size is too large for this cluster size`, 'invalid-option');
  }
  if (clusterSize > 0x7fffffff / 513 * SECTOR) throw codedError(`Cluster size is too large`, 'invalid-option');
  const batEntries = Math.ceil((sectors * SECTOR) / clusterSize);
  const dataOffset = Math.ceil((HEADER_BYTES + batEntries * 4) / clusterSize) * clusterSize;
  const header = encodeHeader({
    extended: true,
    heads: 16,
    cylinders: Math.floor(sectors / 16 / 32),
    tracks: clusterSize / SECTOR,
    batEntries,
    sectors,
    inUse: 0,
    dataOffset,
    flags: 0,
    extOffset: 0,
  });
  const head = new Uint8Array(dataOffset);
  head.set(header);
  await file.write(0, head);
  await file.flush();
}
