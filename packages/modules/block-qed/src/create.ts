import type { BlockNode } from '@tessera/core';
import type { QedCreateOptions } from './create-options.ts';
import { codedError } from '@tessera/module-kit/coded-error';
import { F_BACKING_FILE, F_BACKING_FORMAT_NO_PROBE, HEADER_BYTES, SECTOR, encodeHeader, maxImageSize, tableBytes } from './layout.ts';

/** A header cluster (with the backing file name after the header), then an empty L1 table. */
export async function createQed(file: BlockNode, size: number, options: QedCreateOptions): Promise<void> {
  const { clusterSize, tableSize } = options;
  const imageSize = Math.ceil(size / SECTOR) * SECTOR;
  const max = maxImageSize(clusterSize, tableSize);
  if (imageSize > max) {
    throw codedError(`QED image size must be a non-zero multiple of cluster size and less than ${max} bytes`, 'invalid-option');
  }
  const name = options.backingFile ? new TextEncoder().encode(options.backingFile) : undefined;
  if (name && HEADER_BYTES + name.length > clusterSize) throw codedError('backing file name too long', 'invalid-option');
  let features = 0n;
  if (name) features |= F_BACKING_FILE;
  if (name && options.backingFormat === 'raw') features |= F_BACKING_FORMAT_NO_PROBE;
  const header = {
    clusterSize,
    tableSize,
    headerSize: 1,
    features,
    compatFeatures: 0n,
    autoclearFeatures: 0n,
    l1TableOffset: clusterSize,
    imageSize,
    backingFilenameOffset: name ? HEADER_BYTES : 0,
    backingFilenameSize: name ? name.length : 0,
  };
  const first = new Uint8Array(clusterSize);
  first.set(encodeHeader(header));
  if (name) first.set(name, HEADER_BYTES);
  await file.write(0, first);
  await file.write(clusterSize, new Uint8Array(tableBytes(header)));
  await file.flush();
}
