/**
 * The header of a hosted sparse extent (VMware Virtual Disk Format 1.1, "SparseExtentHeader"):
 * 512 little-endian bytes at the start of the extent file, and again in a streamOptimized footer.
 * Sizes and offsets are in 512-byte sectors.
 */
import { corrupt } from './errors.ts';

export const SECTOR = 512;
export const VMDK4_MAGIC = 0x564d444b; // "KDMV" read little-endian
export const FLAG_NEWLINE_DETECT = 1 << 0;
export const FLAG_REDUNDANT_GD = 1 << 1;
export const FLAG_ZERO_GRAIN = 1 << 2;
export const FLAG_COMPRESSED = 1 << 16;
export const FLAG_MARKERS = 1 << 17;
export const COMPRESSION_DEFLATE = 1;
/** The grain directory is in the footer (streamOptimized written in one pass). */
export const GD_AT_END = 0xffffffffffffffffn;

/** Largest grain accepted: a whole grain is held in memory while read or written. */
export const MAX_GRAIN_SECTORS = 2048; // 1 MiB; VMware and qemu use 64 KiB
/** Grain directories larger than this are refused before being read (qemu refuses above 512 MiB). */
export const MAX_GD_ENTRIES = 16 * 1024 * 1024;
/** qemu's limit for the number of entries of one grain table. */
export const MAX_GT_ENTRIES = 512;

export interface SparseHeader {
  readonly version: number;
  readonly flags: number;
  /** Virtual size of the extent, in sectors. */
  readonly capacity: number;
  readonly grainSectors: number;
  readonly descriptorOffset: number;
  readonly descriptorSectors: number;
  readonly gtEntries: number;
  /** Redundant grain directory, 0 when none. */
  readonly rgdOffset: number;
  /** Grain directory; `undefined` when GD_AT_END (the footer has it). */
  readonly gdOffset: number | undefined;
  readonly overheadSectors: number;
  readonly uncleanShutdown: boolean;
  readonly compressAlgorithm: number;
}

const u64 = (view: DataView, at: number): bigint => view.getBigUint64(at, true);

/** A u64 sector count or offset that must stay within a safe byte offset. */
function sectors(view: DataView, at: number, field: string): number {
  const value = u64(view, at);
  if (value > BigInt(Math.floor(Number.MAX_SAFE_INTEGER / SECTOR))) throw corrupt(`Invalid VMDK header: ${field} ${value} is out of range`);
  return Number(value);
}

export function isSparseMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === VMDK4_MAGIC;
}

/** Decode and validate a header; `where` names the file in messages. */
export function parseSparseHeader(bytes: Uint8Array, where: string): SparseHeader {
  if (bytes.length < SECTOR || !isSparseMagic(bytes)) throw corrupt(`Could not open '${where}': not a VMDK sparse extent (neither a KDMV nor a COWD magic)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, SECTOR);
  const version = view.getUint32(4, true);
  if (version > 3) throw corrupt(`Could not open '${where}': Unsupported VMDK version ${version}`);
  const gdRaw = u64(view, 56);
  const header: SparseHeader = {
    version,
    flags: view.getUint32(8, true),
    capacity: sectors(view, 12, 'capacity'),
    grainSectors: sectors(view, 20, 'grain size'),
    descriptorOffset: sectors(view, 28, 'descriptor offset'),
    descriptorSectors: sectors(view, 36, 'descriptor size'),
    gtEntries: view.getUint32(44, true),
    rgdOffset: sectors(view, 48, 'redundant grain directory offset'),
    gdOffset: gdRaw === GD_AT_END ? undefined : sectors(view, 56, 'grain directory offset'),
    overheadSectors: sectors(view, 64, 'overhead'),
    uncleanShutdown: view.getUint8(72) !== 0,
    compressAlgorithm: view.getUint16(77, true),
  };
  const grain = header.grainSectors;
  // qemu's checks, with its messages: a grain is a power of two sectors, a table at most 512 entries.
  if (grain < 1 || (grain & (grain - 1)) !== 0 || grain > MAX_GRAIN_SECTORS) {
    throw corrupt(`Could not open '${where}': Invalid granularity ${grain} sectors, image may be corrupt`);
  }
  if (header.gtEntries < 1 || header.gtEntries > MAX_GT_ENTRIES) throw corrupt(`Could not open '${where}': L2 table size too big`);
  if (header.flags & FLAG_COMPRESSED && header.compressAlgorithm !== COMPRESSION_DEFLATE) {
    throw corrupt(`Could not open '${where}': unknown compression algorithm ${header.compressAlgorithm} (VMDK knows only deflate, 1)`);
  }
  return header;
}

/** Number of grain directory entries a capacity needs. */
export function gdEntriesFor(header: Pick<SparseHeader, 'capacity' | 'grainSectors' | 'gtEntries'>): number {
  return Math.ceil(header.capacity / (header.grainSectors * header.gtEntries));
}

export interface HeaderFields {
  readonly version: number;
  readonly flags: number;
  readonly capacity: number;
  readonly grainSectors: number;
  readonly descriptorOffset: number;
  readonly descriptorSectors: number;
  readonly gtEntries: number;
  readonly rgdOffset: number;
  /** `undefined`: GD_AT_END. */
  readonly gdOffset: number | undefined;
  readonly overheadSectors: number;
  readonly compressAlgorithm: number;
}

export function encodeSparseHeader(fields: HeaderFields): Uint8Array {
  const bytes = new Uint8Array(SECTOR);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, VMDK4_MAGIC, true);
  view.setUint32(4, fields.version, true);
  view.setUint32(8, fields.flags, true);
  view.setBigUint64(12, BigInt(fields.capacity), true);
  view.setBigUint64(20, BigInt(fields.grainSectors), true);
  view.setBigUint64(28, BigInt(fields.descriptorOffset), true);
  view.setBigUint64(36, BigInt(fields.descriptorSectors), true);
  view.setUint32(44, fields.gtEntries, true);
  view.setBigUint64(48, BigInt(fields.rgdOffset), true);
  view.setBigUint64(56, fields.gdOffset === undefined ? GD_AT_END : BigInt(fields.gdOffset), true);
  view.setBigUint64(64, BigInt(fields.overheadSectors), true);
  // The newline-detection characters VMware checks for corruption by text-mode transfers.
  bytes.set([0x0a, 0x20, 0x0d, 0x0a], 73);
  view.setUint16(77, fields.compressAlgorithm, true);
  return bytes;
}
