import type { BlockNode } from '@tessera/core';
import type { QcowCreateOptions } from './create-options.ts';
import { codedError } from '@tessera/module-kit/coded-error';
import { CRYPT_NONE, HEADER_BYTES, MAX_BACKING_NAME, encodeHeader, geometry } from './layout.ts';

/**
 * qemu's layout: the header, the backing file name, the L1 table (8-byte aligned, written in
 * whole sectors). With a backing file clusters are 512 bytes (little to copy on partial writes)
 * and L2 tables 4096 entries; without, 4 KiB clusters and 512-entry tables.
 */
export async function createQcow(file: BlockNode, size: number, options: QcowCreateOptions): Promise<void> {
  const name = options.backingFile ? new TextEncoder().encode(options.backingFile) : undefined;
  if (name && name.length > MAX_BACKING_NAME) throw codedError('Backing file name too long', 'invalid-option');
  const clusterBits = name ? 9 : 12;
  const l2Bits = name ? 12 : 9;
  const l1TableOffset = Math.ceil((HEADER_BYTES + (name?.length ?? 0)) / 8) * 8;
  const header = {
    backingFileOffset: name ? HEADER_BYTES : 0,
    backingFileSize: name?.length ?? 0,
    mtime: 0,
    size,
    clusterBits,
    l2Bits,
    cryptMethod: CRYPT_NONE,
    l1TableOffset,
  };
  const l1Bytes = Math.ceil((geometry(header).l1Entries * 8) / 512) * 512;
  const bytes = new Uint8Array(l1TableOffset + l1Bytes);
  bytes.set(encodeHeader(header));
  if (name) bytes.set(name, HEADER_BYTES);
  await file.write(0, bytes);
  await file.flush();
}
