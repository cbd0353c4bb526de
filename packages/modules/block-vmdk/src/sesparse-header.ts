/**
 * The headers of an ESXi seSparse ("space-efficient sparse", `SESPARSE`) extent, the delta disks
 * of ESXi 6.5 and later. VMware has not published the format; this follows what qemu documents in
 * its reader (and checks as strictly: anything else is refused). Sector 0 holds the constant
 * header, 64 little-endian u64 fields and padding: magic 0xcafebabe, version 0x200000001, capacity,
 * grain size (8 sectors), grain table size (64 sectors: 4096 u64 entries), flags, four reserved
 * fields, then offset and size (in sectors) of the volatile header, journal header, journal, grain
 * directory, grain tables, free bitmap, backmap and grains. The volatile header (magic 0xcafecafe)
 * says whether a journal must be replayed first.
 */
import { corrupt, unsupportedFeature } from './errors.ts';
import { MAX_GD_ENTRIES, SECTOR } from './sparse-header.ts';

const CONST_MAGIC = 0xcafebaben;
const VOLATILE_MAGIC = 0xcafecafen;
const VERSION = 0x200000001n;
export const SESPARSE_GRAIN_SECTORS = 8;
export const SESPARSE_GT_SECTORS = 64;
/** u64 entries in one grain table. */
export const SESPARSE_GT_ENTRIES = (SESPARSE_GT_SECTORS * SECTOR) / 8;

export interface SeSparseHeader {
  readonly capacity: number;
  readonly volatileHeaderOffset: number;
  readonly gdOffset: number;
  /** Entries of the grain directory (its size in sectors times 64). */
  readonly gdEntries: number;
  readonly gtOffset: number;
  readonly grainsOffset: number;
}

/** The constant header's magic, 0xcafebabe as a little-endian u64. */
export function isSeSparseMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true) === CONST_MAGIC;
}

const hex = (value: bigint) => `0x${value.toString(16).padStart(16, '0')}`;

/** Decode and check the constant header (qemu's checks and messages); `where` names the image. */
export function parseSeSparseHeader(bytes: Uint8Array, where: string): SeSparseHeader {
  if (bytes.length < SECTOR) throw corrupt(`Could not open '${where}': the seSparse extent is shorter than its header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, SECTOR);
  const field = (index: number) => view.getBigUint64(index * 8, true);
  const fail = (message: string, unsupported = true) => {
    throw (unsupported ? unsupportedFeature : corrupt)(`Could not open '${where}': ${message}`);
  };
  if (field(0) !== CONST_MAGIC) fail(`Bad const header magic: ${hex(field(0))}`, false);
  if (field(1) !== VERSION) fail(`Unsupported version: ${hex(field(1))}`);
  if (field(3) !== BigInt(SESPARSE_GRAIN_SECTORS)) fail(`Unsupported grain size: ${field(3)}`);
  if (field(4) !== BigInt(SESPARSE_GT_SECTORS)) fail(`Unsupported grain table size: ${field(4)}`);
  if (field(5) !== 0n) fail(`Unsupported flags: ${hex(field(5))}`);
  if ([6, 7, 8, 9].some((index) => field(index) !== 0n)) fail(`Unsupported reserved bits: ${[6, 7, 8, 9].map((index) => hex(field(index))).join(' ')}`);
  if (bytes.subarray(26 * 8, SECTOR).some((byte) => byte !== 0)) fail('Unsupported non-zero const header padding');
  /** A sector count or offset whose byte value stays an exact number. */
  const sectors = (index: number, what: string): number => {
    const value = field(index);
    if (value > BigInt(Math.floor(Number.MAX_SAFE_INTEGER / SECTOR))) fail(`the seSparse ${what} ${value} is out of range`, false);
    return Number(value);
  };
  const gdSectors = sectors(17, 'grain directory size');
  const gdEntries = (gdSectors * SECTOR) / 8;
  if (gdEntries > MAX_GD_ENTRIES) fail(`L1 size too big (${gdEntries} grain directory entries; at most ${MAX_GD_ENTRIES})`);
  return {
    capacity: sectors(2, 'capacity'),
    volatileHeaderOffset: sectors(10, 'volatile header offset'),
    gdOffset: sectors(16, 'grain directory offset'),
    gdEntries,
    gtOffset: sectors(18, 'grain tables offset'),
    grainsOffset: sectors(24, 'grains offset'),
  };
}

/** Check the volatile header: its magic, no journal to replay (qemu cannot either), zero padding. */
export function checkSeSparseVolatileHeader(bytes: Uint8Array, where: string): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, SECTOR);
  const magic = view.getBigUint64(0, true);
  if (magic !== VOLATILE_MAGIC) throw corrupt(`Could not open '${where}': Bad volatile header magic: ${hex(magic)}`);
  if (view.getBigUint64(24, true) !== 0n) {
    throw unsupportedFeature(`Could not open '${where}': Image is dirty, Replaying journal not supported (open the disk in ESXi once to replay it)`);
  }
  if (bytes.subarray(32, SECTOR).some((byte) => byte !== 0)) throw unsupportedFeature(`Could not open '${where}': Unsupported non-zero volatile header padding`);
}
