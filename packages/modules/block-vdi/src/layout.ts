// The VDI header as QEMU documents and writes it (block/vdi.c's layout, VirtualBox's format 1.1):
// a 512-byte header, the block map (one little-endian u32 per 1 MiB block), then the blocks.
import { codedError } from '@tessera/module-kit/coded-error';

export const HEADER_SIZE = 512;
export const SIGNATURE = 0xbeda107f;
export const VERSION_1_1 = 0x00010001;
export const TYPE_DYNAMIC = 1;
export const TYPE_STATIC = 2;
export const SECTOR = 512;
/** The only block size QEMU (and so this driver) accepts. */
export const BLOCK_SIZE = 1 << 20;
/** Block map entries: not allocated, and discarded (reads as zeroes); others index a block. */
export const UNALLOCATED = 0xffffffff;
export const DISCARDED = 0xfffffffe;
/** QEMU's limit: the block map of the largest image is 4 GiB (0x3fffffff entries). */
export const MAX_BLOCKS = 0x3fffffff;
export const MAX_DISK_SIZE = MAX_BLOCKS * BLOCK_SIZE;
const TEXT = '<<< QEMU VM Virtual Disk Image >>>\n';

const OFF = {
  signature: 0x40, version: 0x44, headerSize: 0x48, imageType: 0x4c, imageFlags: 0x50,
  offsetBmap: 0x154, offsetData: 0x158, sectorSize: 0x168, diskSize: 0x170, blockSize: 0x178,
  blockExtra: 0x17c, blocksInImage: 0x180, blocksAllocated: 0x184, uuidImage: 0x188,
  uuidLastSnap: 0x198, uuidLink: 0x1a8, uuidParent: 0x1b8,
} as const;

export interface VdiHeader {
  readonly imageType: number;
  readonly offsetBmap: number;
  readonly offsetData: number;
  readonly diskSize: number;
  readonly blockSize: number;
  readonly blocksInImage: number;
  blocksAllocated: number;
}

const corrupt = (message: string) => codedError(message, 'corrupt-image');
const unsupported = (message: string) => codedError(message, 'unsupported-feature');

/** Decode and check every field before anything is allocated from it; messages as qemu's. */
export function parseHeader(bytes: Uint8Array, fileSize: number): VdiHeader {
  if (bytes.length < HEADER_SIZE) throw corrupt('Image not in VDI format (the file is shorter than its header)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  const u32 = (at: number) => view.getUint32(at, true);
  const signature = u32(OFF.signature);
  if (signature !== SIGNATURE) throw corrupt(`Image not in VDI format (bad signature ${signature.toString(16).padStart(8, '0')})`);
  const version = u32(OFF.version);
  if (version !== VERSION_1_1) throw unsupported(`unsupported VDI image (version ${version >>> 16}.${version & 0xffff})`);
  const imageType = u32(OFF.imageType);
  if (imageType !== TYPE_DYNAMIC && imageType !== TYPE_STATIC) throw unsupported(`unsupported VDI image (image type ${imageType})`);
  const offsetBmap = u32(OFF.offsetBmap);
  const offsetData = u32(OFF.offsetData);
  if (offsetBmap % SECTOR !== 0) throw unsupported(`unsupported VDI image (unaligned block map offset 0x${offsetBmap.toString(16)})`);
  if (offsetData % SECTOR !== 0) throw unsupported(`unsupported VDI image (unaligned data offset 0x${offsetData.toString(16)})`);
  const sectorSize = u32(OFF.sectorSize);
  if (sectorSize !== SECTOR) throw unsupported(`unsupported VDI image (sector size ${sectorSize} is not ${SECTOR})`);
  const blockSize = u32(OFF.blockSize);
  if (blockSize !== BLOCK_SIZE) throw unsupported(`unsupported VDI image (block size ${blockSize} is not ${BLOCK_SIZE})`);
  if (u32(OFF.blockExtra) !== 0) throw unsupported(`unsupported VDI image (block extra data ${u32(OFF.blockExtra)} is not 0)`);
  const diskSize = Number(view.getBigUint64(OFF.diskSize, true));
  const blocksInImage = u32(OFF.blocksInImage);
  if (blocksInImage > MAX_BLOCKS) throw unsupported(`unsupported VDI image (too many blocks ${blocksInImage}, max is ${MAX_BLOCKS})`);
  if (diskSize > blocksInImage * BLOCK_SIZE) {
    throw unsupported(`unsupported VDI image (disk size ${diskSize}, image bitmap has room for ${blocksInImage * BLOCK_SIZE})`);
  }
  if (diskSize % SECTOR !== 0) throw unsupported(`unsupported VDI image (disk size ${diskSize} is not multiple of ${SECTOR})`);
  if (!isNull(bytes, OFF.uuidLink)) throw unsupported('unsupported VDI image (non-NULL link UUID)');
  if (!isNull(bytes, OFF.uuidParent)) throw unsupported('unsupported VDI image (non-NULL parent UUID)');
  const blocksAllocated = u32(OFF.blocksAllocated);
  if (blocksAllocated > blocksInImage) throw corrupt(`VDI image claims ${blocksAllocated} allocated blocks of ${blocksInImage}`);
  if (offsetBmap < HEADER_SIZE) throw corrupt(`VDI block map offset 0x${offsetBmap.toString(16)} overlaps the header`);
  // The map is read whole: it must lie in the file (so a forged count cannot make us allocate more than the file holds).
  if (offsetBmap + blocksInImage * 4 > offsetData) throw corrupt('VDI block map overlaps the data area');
  if (offsetBmap + blocksInImage * 4 > fileSize) throw corrupt('VDI block map lies beyond the end of the file');
  return { imageType, offsetBmap, offsetData, diskSize, blockSize, blocksInImage, blocksAllocated };
}

function isNull(bytes: Uint8Array, at: number): boolean {
  for (let i = at; i < at + 16; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** The header of a new image (qemu's text, two random UUIDs, geometry left to the guest). */
export function encodeHeader(header: VdiHeader): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < TEXT.length; i++) bytes[i] = TEXT.charCodeAt(i);
  view.setUint32(OFF.signature, SIGNATURE, true);
  view.setUint32(OFF.version, VERSION_1_1, true);
  view.setUint32(OFF.headerSize, 0x180, true);
  view.setUint32(OFF.imageType, header.imageType, true);
  view.setUint32(OFF.offsetBmap, header.offsetBmap, true);
  view.setUint32(OFF.offsetData, header.offsetData, true);
  view.setUint32(OFF.sectorSize, SECTOR, true);
  view.setBigUint64(OFF.diskSize, BigInt(header.diskSize), true);
  view.setUint32(OFF.blockSize, header.blockSize, true);
  view.setUint32(OFF.blocksInImage, header.blocksInImage, true);
  view.setUint32(OFF.blocksAllocated, header.blocksAllocated, true);
  bytes.set(uuid(), OFF.uuidImage);
  bytes.set(uuid(), OFF.uuidLastSnap);
  return bytes;
}

/** The header's allocated-block count, as written in place after an allocation. */
export function encodeBlocksAllocated(count: number): { offset: number; bytes: Uint8Array } {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, count, true);
  return { offset: OFF.blocksAllocated, bytes };
}

function uuid(): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return bytes;
}
