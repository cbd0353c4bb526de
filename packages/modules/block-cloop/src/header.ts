import { codedError } from '@tessera/module-kit/coded-error';

/**
 * A cloop 2.0 image (the Linux compressed loop device's format, as qemu's cloop driver reads
 * it): a 128-byte shell-script preamble, the block size and block count (32-bit big-endian), then
 * count + 1 big-endian 64-bit file offsets: block i is the zlib stream between offsets i and i + 1,
 * and inflates to exactly one block.
 */
export interface CloopHeader {
  readonly blockSize: number;
  readonly blockCount: number;
}

export const HEADER_SIZE = 136;
const MAX_BLOCK_SIZE = 64 * 1024 * 1024;
/** qemu's bound on the offset table (beyond it: "try increasing block size"). */
const MAX_OFFSETS_SIZE = 512 * 1024 * 1024;

export function corrupt(filename: string, what: string): Error {
  return codedError(`Could not open '${filename}': ${what}`, 'corrupt-image');
}

/** Parse and check the header (the preamble was matched by the probe or is not checked, as in qemu). */
export function parseHeader(bytes: Uint8Array, filename: string): CloopHeader {
  if (bytes.length < HEADER_SIZE) throw corrupt(filename, 'image is too short for a cloop header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const blockSize = view.getUint32(128);
  const blockCount = view.getUint32(132);
  // qemu's checks and words.
  if (blockSize % 512 !== 0) throw corrupt(filename, `block_size ${blockSize} must be a multiple of 512`);
  if (blockSize === 0) throw corrupt(filename, 'block_size cannot be zero');
  if (blockSize > MAX_BLOCK_SIZE) throw corrupt(filename, `block_size ${blockSize} must be 64 MB or less`);
  if ((blockCount + 1) * 8 > MAX_OFFSETS_SIZE) throw corrupt(filename, 'image requires too many offsets, try increasing block size');
  return { blockSize, blockCount };
}

/** Read and check the offset table: increasing, each block at most twice the largest block size, inside the file. */
export function parseOffsets(bytes: Uint8Array, header: CloopHeader, fileSize: number, filename: string): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const offsets = new Float64Array(header.blockCount + 1);
  for (let i = 0; i <= header.blockCount; i++) {
    const offset = view.getBigUint64(i * 8);
    if (offset > BigInt(fileSize)) throw corrupt(filename, `offset ${offset} of block ${i} is past the end of the file, image file is corrupt`);
    offsets[i] = Number(offset);
  }
  for (let i = 0; i < header.blockCount; i++) {
    if (offsets[i + 1]! < offsets[i]!) throw corrupt(filename, `offsets not monotonically increasing at index ${i}, image file is corrupt`);
    if (offsets[i + 1]! - offsets[i]! > 2 * MAX_BLOCK_SIZE) throw corrupt(filename, `invalid compressed block size at index ${i}, image file is corrupt`);
  }
  return offsets;
}
