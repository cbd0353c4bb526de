import type { BlockNode } from '@tessera/core';
import { codedError } from '@tessera/module-kit/coded-error';
import type { VdiCreateOptions } from './create-options.ts';
import { BLOCK_SIZE, HEADER_SIZE, MAX_DISK_SIZE, SECTOR, TYPE_DYNAMIC, TYPE_STATIC, encodeHeader } from './layout.ts';

/** Lay out a new image: header, block map (all unallocated, or identity for a static image), blocks. */
export async function createVdi(file: BlockNode, size: number, options: VdiCreateOptions): Promise<void> {
  if (size > MAX_DISK_SIZE) {
    throw codedError(`Unsupported VDI image size (size is 0x${size.toString(16)}, max supported is 0x${MAX_DISK_SIZE.toString(16)})`, 'invalid-option');
  }
  const diskSize = Math.ceil(size / SECTOR) * SECTOR;
  const blocks = Math.ceil(diskSize / BLOCK_SIZE);
  const mapBytes = Math.ceil((blocks * 4) / SECTOR) * SECTOR;
  const offsetBmap = HEADER_SIZE;
  const offsetData = offsetBmap + mapBytes;
  const header = {
    imageType: options.static ? TYPE_STATIC : TYPE_DYNAMIC,
    offsetBmap,
    offsetData,
    diskSize,
    blockSize: BLOCK_SIZE,
    blocksInImage: blocks,
    blocksAllocated: options.static ? blocks : 0,
  };
  const map = new Uint8Array(mapBytes);
  const view = new DataView(map.buffer);
  for (let i = 0; i < blocks; i++) view.setUint32(i * 4, options.static ? i : 0xffffffff, true);
  await file.write(0, encodeHeader(header));
  await file.write(offsetBmap, map);
  const end = offsetData + blocks * BLOCK_SIZE;
  if (options.static) await (file.resize ? file.resize(end, { shrink: false }) : file.write(end - 1, new Uint8Array(1)));
  await file.flush();
}
