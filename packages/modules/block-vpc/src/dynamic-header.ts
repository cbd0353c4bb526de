import { vhdChecksum } from './checksum.ts';

/** The dynamic disk header: 1024 bytes, big-endian (VHD specification, "Dynamic Disk Header Format"). */
export const DYNAMIC_HEADER_SIZE = 1024;
const COOKIE = 'cxsparse';
const CHECKSUM_AT = 36;

export interface DynamicHeader {
  readonly tableOffset: bigint;
  readonly maxTableEntries: number;
  readonly blockSize: number;
  readonly checksum: number;
}

const latin1 = (bytes: Uint8Array): string => String.fromCharCode(...bytes);

export const hasDynamicCookie = (bytes: Uint8Array): boolean => latin1(bytes.subarray(0, 8)) === COOKIE;

export function decodeDynamicHeader(bytes: Uint8Array): DynamicHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, DYNAMIC_HEADER_SIZE);
  return {
    tableOffset: view.getBigUint64(16),
    maxTableEntries: view.getUint32(28),
    blockSize: view.getUint32(32),
    checksum: view.getUint32(CHECKSUM_AT),
  };
}

export const dynamicHeaderChecksum = (bytes: Uint8Array): number => vhdChecksum(bytes.subarray(0, DYNAMIC_HEADER_SIZE), CHECKSUM_AT);

/** A header with no parent (not a differencing disk), as qemu-img and Hyper-V write it. */
export function encodeDynamicHeader(header: Omit<DynamicHeader, 'checksum'>): Uint8Array {
  const bytes = new Uint8Array(DYNAMIC_HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < 8; i++) bytes[i] = COOKIE.charCodeAt(i);
  // The specification says 0xFFFFFFFF here, but every tool writes all 64 bits set.
  view.setBigUint64(8, 0xffffffffffffffffn);
  view.setBigUint64(16, header.tableOffset);
  view.setUint32(24, 0x00010000);
  view.setUint32(28, header.maxTableEntries);
  view.setUint32(32, header.blockSize);
  view.setUint32(CHECKSUM_AT, dynamicHeaderChecksum(bytes));
  return bytes;
}
