import { MiB } from './header.ts';

/** Block Allocation Table entries (VHDX specification 2.5): a state in bits 0-2, a file offset in MiB in bits 20-63. */
export const PAYLOAD_NOT_PRESENT = 0;
export const PAYLOAD_UNDEFINED = 1;
export const PAYLOAD_ZERO = 2;
export const PAYLOAD_UNMAPPED = 3;
export const PAYLOAD_FULLY_PRESENT = 6;
export const PAYLOAD_PARTIALLY_PRESENT = 7;

export const entryState = (entry: bigint): number => Number(entry & 7n);
/** The entry's file offset in bytes (at most 2^44 MiB: beyond any file, caught by the bounds checks). */
export const entryOffset = (entry: bigint): number => Number(entry >> 20n) * MiB;
export const makeEntry = (state: number, offset: number): bigint => (BigInt(offset / MiB) << 20n) | BigInt(state);

/** How a disk's payload blocks map to BAT entries. */
export interface BatGeometry {
  readonly blockSize: number;
  /** Payload blocks per sector bitmap block: a sector bitmap entry follows each chunk. */
  readonly chunkRatio: number;
  readonly payloadBlocks: number;
  readonly entries: number;
}

export function batGeometry(virtualSize: number, blockSize: number, logicalSectorSize: number, hasParent: boolean): BatGeometry {
  const chunkRatio = (2 ** 23 * logicalSectorSize) / blockSize;
  const payloadBlocks = Math.ceil(virtualSize / blockSize);
  const bitmapBlocks = Math.ceil(payloadBlocks / chunkRatio);
  const entries = hasParent ? bitmapBlocks * (chunkRatio + 1) : payloadBlocks + Math.floor(Math.max(0, payloadBlocks - 1) / chunkRatio);
  return { blockSize, chunkRatio, payloadBlocks, entries };
}

/** The BAT index of payload block `block` (sector bitmap entries interleave). */
export const payloadIndex = (g: BatGeometry, block: number): number => block + Math.floor(block / g.chunkRatio);
