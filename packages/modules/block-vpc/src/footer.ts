import { vhdChecksum } from './checksum.ts';
import type { Geometry } from './geometry.ts';

/** The hard disk footer: 512 bytes, big-endian (VHD specification, "Hard Disk Footer Format"). */
export const FOOTER_SIZE = 512;
export const FOOTER_COOKIE = 'conectix';
const CHECKSUM_AT = 64;

export const DISK_FIXED = 2;
export const DISK_DYNAMIC = 3;
export const DISK_DIFFERENCING = 4;

/** No dynamic header: a fixed disk's data offset. */
export const NO_OFFSET = 0xffffffffffffffffn;

export interface Footer {
  readonly features: number;
  readonly version: number;
  readonly dataOffset: bigint;
  readonly timestamp: number;
  readonly creatorApp: string;
  readonly creatorVersion: number;
  readonly creatorOs: string;
  readonly originalSize: bigint;
  readonly currentSize: bigint;
  readonly geometry: Geometry;
  readonly diskType: number;
  readonly checksum: number;
  readonly uniqueId: Uint8Array;
  readonly savedState: number;
}

const latin1 = (bytes: Uint8Array): string => String.fromCharCode(...bytes);

export const hasFooterCookie = (bytes: Uint8Array): boolean => bytes.length >= 8 && latin1(bytes.subarray(0, 8)) === FOOTER_COOKIE;

/** Decode a footer (the caller has checked the cookie). */
export function decodeFooter(bytes: Uint8Array): Footer {
  const view = new DataView(bytes.buffer, bytes.byteOffset, FOOTER_SIZE);
  return {
    features: view.getUint32(8),
    version: view.getUint32(12),
    dataOffset: view.getBigUint64(16),
    timestamp: view.getUint32(24),
    creatorApp: latin1(bytes.subarray(28, 32)),
    creatorVersion: view.getUint32(32),
    creatorOs: latin1(bytes.subarray(36, 40)),
    originalSize: view.getBigUint64(40),
    currentSize: view.getBigUint64(48),
    geometry: { cylinders: view.getUint16(56), heads: bytes[58]!, sectorsPerTrack: bytes[59]! },
    diskType: view.getUint32(60),
    checksum: view.getUint32(CHECKSUM_AT),
    uniqueId: bytes.slice(68, 84),
    savedState: bytes[84]!,
  };
}

/** The checksum the footer's bytes should carry. */
export const footerChecksum = (bytes: Uint8Array): number => vhdChecksum(bytes.subarray(0, FOOTER_SIZE), CHECKSUM_AT);

/** Encode a footer, computing its checksum. */
export function encodeFooter(footer: Omit<Footer, 'checksum'>): Uint8Array {
  const bytes = new Uint8Array(FOOTER_SIZE);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < 8; i++) bytes[i] = FOOTER_COOKIE.charCodeAt(i);
  view.setUint32(8, footer.features);
  view.setUint32(12, footer.version);
  view.setBigUint64(16, footer.dataOffset);
  view.setUint32(24, footer.timestamp);
  for (let i = 0; i < 4; i++) bytes[28 + i] = footer.creatorApp.charCodeAt(i) & 0xff;
  view.setUint32(32, footer.creatorVersion);
  for (let i = 0; i < 4; i++) bytes[36 + i] = footer.creatorOs.charCodeAt(i) & 0xff;
  view.setBigUint64(40, footer.originalSize);
  view.setBigUint64(48, footer.currentSize);
  view.setUint16(56, footer.geometry.cylinders);
  bytes[58] = footer.geometry.heads;
  bytes[59] = footer.geometry.sectorsPerTrack;
  view.setUint32(60, footer.diskType);
  bytes.set(footer.uniqueId.subarray(0, 16), 68);
  bytes[84] = footer.savedState;
  view.setUint32(CHECKSUM_AT, footerChecksum(bytes));
  return bytes;
}
