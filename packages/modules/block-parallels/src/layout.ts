// The Parallels expandable image as QEMU's docs/interop/parallels.txt lays it out: a 64-byte
// little-endian header, the BAT (one u32 per cluster), the data area. BAT entries count clusters
// in "WithouFreSpacExt" images and sectors in "WithoutFreeSpace" ones; 0 is unallocated.
import { codedError } from '@tessera/module-kit/coded-error';

export const HEADER_BYTES = 64;
export const SECTOR = 512;
export const MAGIC_OLD = 'WithoutFreeSpace';
export const MAGIC_EXT = 'WithouFreSpacExt';
export const VERSION = 2;
/** in_use while opened read-write; qemu writes 0 on close. */
export const INUSE_MAGIC = 0x746f6e59;
export const DEFAULT_CLUSTER = 2 ** 20;
/** qemu's limit: an image is at most 2^32 clusters. */
export const MAX_IMAGE_FACTOR = 2 ** 32;

export interface ParallelsHeader {
  readonly extended: boolean;
  readonly heads: number;
  readonly cylinders: number;
  /** Cluster size in sectors. */
  readonly tracks: number;
  readonly batEntries: number;
  readonly sectors: number;
  inUse: number;
  /** Start of the data area, in bytes. */
  readonly dataOffset: number;
  readonly flags: number;
  readonly extOffset: number;
}

const corrupt = (message: string) => codedError(message, 'corrupt-image');

export const clusterBytes = (h: Pick<ParallelsHeader, 'tracks'>) => h.tracks * SECTOR;
export const batEnd = (h: Pick<ParallelsHeader, 'batEntries'>) => HEADER_BYTES + h.batEntries * 4;
/** What a BAT entry counts: clusters (ext magic) or sectors (old magic). */
export const entryUnit = (h: ParallelsHeader) => (h.extended ? clusterBytes(h) : SECTOR);

export function parseHeader(bytes: Uint8Array, fileSize: number): ParallelsHeader {
  if (bytes.length < HEADER_BYTES) throw corrupt('Image not in Parallels format (the file is shorter than its header)');
  const magic = String.fromCharCode(...bytes.subarray(0, 16));
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const u32 = (at: number) => view.getUint32(at, true);
  if ((magic !== MAGIC_OLD && magic !== MAGIC_EXT) || u32(16) !== VERSION) throw corrupt('Image not in Parallels format');
  const extended = magic === MAGIC_EXT;
  const tracks = u32(28);
  if (tracks === 0) throw corrupt('Invalid image: Zero sectors per track');
  if (tracks > Math.floor(0x7fffffff / 513)) throw corrupt('Invalid image: Too big cluster');
  const batEntries = u32(32);
  if (batEntries > Math.floor(0x7fffffff / 4)) throw corrupt('Catalog too large');
  if (HEADER_BYTES + batEntries * 4 > fileSize) throw corrupt('Invalid image: the BAT lies beyond the end of the file');
  // The old format keeps only the low 32 bits of the sector count.
  const sectors = extended ? Number(view.getBigUint64(36, true)) : u32(36);
  if (sectors * SECTOR > Number.MAX_SAFE_INTEGER) throw corrupt(`Invalid image: ${sectors} sectors is too large`);
  const dataOff = u32(48);
  const dataOffset = dataOff === 0 ? Math.ceil((HEADER_BYTES + batEntries * 4) / SECTOR) * SECTOR : dataOff * SECTOR;
  if (dataOffset < HEADER_BYTES + batEntries * 4) throw corrupt('Invalid image: the data area overlaps the BAT');
  return {
    extended,
    heads: u32(20),
    cylinders: u32(24),
    tracks,
    batEntries,
    sectors,
    inUse: u32(44),
    dataOffset,
    flags: u32(52),
    extOffset: Number(view.getBigUint64(56, true)),
  };
}

export function encodeHeader(h: ParallelsHeader): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  const magic = h.extended ? MAGIC_EXT : MAGIC_OLD;
  for (let i = 0; i < 16; i++) bytes[i] = magic.charCodeAt(i);
  view.setUint32(16, VERSION, true);
  view.setUint32(20, h.heads, true);
  view.setUint32(24, h.cylinders, true);
  view.setUint32(28, h.tracks, true);
  view.setUint32(32, h.batEntries, true);
  view.setBigUint64(36, BigInt(h.sectors), true);
  view.setUint32(44, h.inUse, true);
  view.setUint32(48, h.dataOffset / SECTOR, true);
  view.setUint32(52, h.flags, true);
  view.setBigUint64(56, BigInt(h.extOffset), true);
  return bytes;
}

export function decodeBat(bytes: Uint8Array): Uint32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const bat = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < bat.length; i++) bat[i] = view.getUint32(i * 4, true);
  return bat;
}

export function encodeU32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}
