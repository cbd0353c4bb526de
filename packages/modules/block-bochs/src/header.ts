import { codedError } from '@tessera/module-kit/coded-error';

/**
 * The header of a Bochs "growing" redolog image (Bochs' hdimage documentation; qemu's bochs
 * driver reads the same): 512 bytes, then the catalog (one 32-bit entry per extent: the index of
 * the extent's block in the file, or 0xffffffff when the extent is not allocated), then extent
 * blocks, each a sector bitmap followed by the extent's sectors.
 */
export interface BochsHeader {
  /** Guest size in bytes (whole sectors, as qemu counts it). */
  readonly size: number;
  /** Offset of the catalog (the header's size field). */
  readonly catalogOffset: number;
  readonly catalogEntries: number;
  /** Bytes of guest data per extent (a power of two, at least a sector). */
  readonly extentSize: number;
  /** Sectors of the bitmap before each extent's data. */
  readonly bitmapSectors: number;
  /** Sectors of data in each extent block. */
  readonly extentSectors: number;
}

export const HEADER_SIZE = 512;
const SECTOR = 512;
const VERSION_1 = 0x00010000;
const VERSION_2 = 0x00020000;
/** qemu's bounds: a catalog of at most 2^31/4 entries would not fit its buffer; extents up to 8 MiB. */
const MAX_CATALOG_ENTRIES = Math.floor(0x7fffffff / 4);
const MAX_EXTENT_SIZE = 0x800000;

const cString = (bytes: Uint8Array, at: number, length: number): string => {
  const field = bytes.subarray(at, at + length);
  const end = field.indexOf(0);
  return String.fromCharCode(...field.subarray(0, end < 0 ? length : end));
};

/** Parse and check the header; every failure names the image and what is wrong. */
export function parseHeader(bytes: Uint8Array, fileSize: number, filename: string): BochsHeader {
  const corrupt = (what: string) => codedError(`Could not open '${filename}': ${what}`, 'corrupt-image');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (
    bytes.length < HEADER_SIZE ||
    cString(bytes, 0, 32) !== 'Bochs Virtual HD Image' ||
    cString(bytes, 32, 16) !== 'Redolog' ||
    cString(bytes, 48, 16) !== 'Growing'
  ) {
    // qemu's words; a redolog of another subtype (undoable, volatile) is a valid Bochs image it cannot read either.
    const subtype = bytes.length >= 64 ? cString(bytes, 48, 16) : '';
    if (bytes.length >= 64 && cString(bytes, 32, 16) === 'Redolog' && subtype !== 'Growing') {
      throw codedError(`Could not open '${filename}': Image not in Bochs format (a '${subtype}' redolog; only 'Growing' images are read)`, 'unsupported-feature');
    }
    throw corrupt('Image not in Bochs format');
  }
  const version = view.getUint32(64, true);
  if (version !== VERSION_1 && version !== VERSION_2) throw corrupt('Image not in Bochs format');
  const catalogOffset = view.getUint32(68, true);
  const catalogEntries = view.getUint32(72, true);
  const bitmapBytes = view.getUint32(76, true);
  const extentSize = view.getUint32(80, true);
  const diskBytes = view.getBigUint64(version === VERSION_1 ? 84 : 88, true);
  const size = Number(diskBytes / 512n) * SECTOR;
  if (!Number.isSafeInteger(size)) throw corrupt(`the disk size ${diskBytes} is too large`);
  if (catalogEntries > MAX_CATALOG_ENTRIES) throw corrupt('Catalog size is too large');
  if (extentSize < SECTOR) throw corrupt('Extent size must be at least 512');
  if (extentSize > MAX_EXTENT_SIZE) throw corrupt(`Extent size ${extentSize} is too large`);
  if (catalogEntries < Math.ceil(size / SECTOR / (extentSize / SECTOR))) throw corrupt('Catalog size is too small for this disk size');
  // The catalog must lie in the file: it is read whole, so a forged count cannot make us allocate more than the file holds.
  if (catalogOffset < HEADER_SIZE || catalogOffset + catalogEntries * 4 > fileSize) {
    throw corrupt(`the catalog (${catalogEntries} entries at ${catalogOffset}) lies outside the file`);
  }
  if (bitmapBytes === 0) throw corrupt('the bitmap size is 0');
  return {
    size,
    catalogOffset,
    catalogEntries,
    extentSize,
    bitmapSectors: 1 + Math.floor((bitmapBytes - 1) / SECTOR),
    extentSectors: 1 + Math.floor((extentSize - 1) / SECTOR),
  };
}
