// The QED header as QEMU's specification (docs/interop/qed_spec) lays it out: little-endian, at
// the start of the first of header_size clusters; L1 and L2 tables of table_size clusters hold
// u64 cluster offsets (0: unallocated, 1: a zero cluster).
import { codedError } from '@tessera/module-kit/coded-error';

export const MAGIC = 0x00444551; // "QED\0"
export const HEADER_BYTES = 64;
export const MIN_CLUSTER = 4096;
export const MAX_CLUSTER = 64 * 2 ** 20;
export const MIN_TABLE = 1;
export const MAX_TABLE = 16;
export const DEFAULT_CLUSTER = 65536;
export const DEFAULT_TABLE = 4;
export const SECTOR = 512;

export const F_BACKING_FILE = 0x01n;
export const F_NEED_CHECK = 0x02n;
export const F_BACKING_FORMAT_NO_PROBE = 0x04n;
const KNOWN_FEATURES = F_BACKING_FILE | F_NEED_CHECK | F_BACKING_FORMAT_NO_PROBE;

/** L2 entry values that are not offsets. */
export const UNALLOCATED = 0;
export const ZERO_CLUSTER = 1;

export interface QedHeader {
  clusterSize: number;
  tableSize: number;
  headerSize: number;
  features: bigint;
  compatFeatures: bigint;
  autoclearFeatures: bigint;
  l1TableOffset: number;
  imageSize: number;
  backingFilenameOffset: number;
  backingFilenameSize: number;
}

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;
const corrupt = (message: string) => codedError(message, 'corrupt-image');

export const tableBytes = (h: Pick<QedHeader, 'clusterSize' | 'tableSize'>) => h.clusterSize * h.tableSize;
/** The largest image these cluster and table sizes address (both levels full). */
export const maxImageSize = (clusterSize: number, tableSize: number) => ((clusterSize * tableSize) / 8) ** 2 * clusterSize;

export function validClusterSize(n: number): boolean {
  return isPowerOfTwo(n) && n >= MIN_CLUSTER && n <= MAX_CLUSTER;
}
export function validTableSize(n: number): boolean {
  return isPowerOfTwo(n) && n >= MIN_TABLE && n <= MAX_TABLE;
}

/** Decode the header and check every field against the spec and the file's size. */
export function parseHeader(bytes: Uint8Array, fileSize: number): QedHeader {
  if (bytes.length < HEADER_BYTES) throw corrupt('Image not in QED format (the file is shorter than its header)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (view.getUint32(0, true) !== MAGIC) throw corrupt('Image not in QED format (bad magic)');
  const u64 = (at: number) => view.getBigUint64(at, true);
  const header: QedHeader = {
    clusterSize: view.getUint32(4, true),
    tableSize: view.getUint32(8, true),
    headerSize: view.getUint32(12, true),
    features: u64(16),
    compatFeatures: u64(24),
    autoclearFeatures: u64(32),
    l1TableOffset: Number(u64(40)),
    imageSize: Number(u64(48)),
    backingFilenameOffset: view.getUint32(56, true),
    backingFilenameSize: view.getUint32(60, true),
  };
  const unknown = header.features & ~KNOWN_FEATURES;
  if (unknown !== 0n) throw codedError(`Unsupported QED features: 0x${unknown.toString(16)}`, 'unsupported-feature');
  if (!validClusterSize(header.clusterSize)) throw corrupt(`QED image is corrupt: cluster size ${header.clusterSize} is not a power of 2 in [${MIN_CLUSTER}, ${MAX_CLUSTER}]`);
  if (!validTableSize(header.tableSize)) throw corrupt(`QED image is corrupt: table size ${header.tableSize} is not a power of 2 in [${MIN_TABLE}, ${MAX_TABLE}]`);
  if (header.headerSize < 1 || header.headerSize * header.clusterSize > fileSize) {
    throw corrupt(`QED image is corrupt: header size of ${header.headerSize} clusters does not fit the file`);
  }
  if (header.imageSize % SECTOR !== 0 || header.imageSize > maxImageSize(header.clusterSize, header.tableSize)) {
    throw corrupt(`QED image is corrupt: image size ${header.imageSize} is not a multiple of ${SECTOR} up to ${maxImageSize(header.clusterSize, header.tableSize)}`);
  }
  if (!tableFits(header, header.l1TableOffset, fileSize)) throw corrupt(`QED image is corrupt: L1 table offset ${header.l1TableOffset} is invalid`);
  if (header.features & F_BACKING_FILE) {
    const end = header.backingFilenameOffset + header.backingFilenameSize;
    if (header.backingFilenameSize === 0 || header.backingFilenameSize > 1023 || end > header.headerSize * header.clusterSize || end > bytes.length) {
      throw corrupt('QED image is corrupt: the backing file name lies outside the header');
    }
  }
  return header;
}

/** A cluster offset a table may hold: aligned, past the header, inside the file (qemu's rule). */
export function clusterOffsetValid(h: QedHeader, offset: number, fileSize: number): boolean {
  return offset % h.clusterSize === 0 && offset >= h.headerSize * h.clusterSize && offset < fileSize;
}

/** A table (table_size clusters) at `offset` lies wholly in the file. */
export function tableFits(h: QedHeader, offset: number, fileSize: number): boolean {
  return clusterOffsetValid(h, offset, fileSize) && offset + tableBytes(h) <= fileSize;
}

export function backingName(h: QedHeader, bytes: Uint8Array): string | undefined {
  if (!(h.features & F_BACKING_FILE)) return undefined;
  return new TextDecoder().decode(bytes.subarray(h.backingFilenameOffset, h.backingFilenameOffset + h.backingFilenameSize));
}

export function encodeHeader(h: QedHeader): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, h.clusterSize, true);
  view.setUint32(8, h.tableSize, true);
  view.setUint32(12, h.headerSize, true);
  view.setBigUint64(16, h.features, true);
  view.setBigUint64(24, h.compatFeatures, true);
  view.setBigUint64(32, h.autoclearFeatures, true);
  view.setBigUint64(40, BigInt(h.l1TableOffset), true);
  view.setBigUint64(48, BigInt(h.imageSize), true);
  view.setUint32(56, h.backingFilenameOffset, true);
  view.setUint32(60, h.backingFilenameSize, true);
  return bytes;
}

/** Table entries as numbers (offsets past 2^53 are impossible in any file and read as invalid). */
export function decodeTable(bytes: Uint8Array): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const entries = new Float64Array(bytes.length / 8);
  for (let i = 0; i < entries.length; i++) {
    const value = view.getBigUint64(i * 8, true);
    entries[i] = value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
  }
  return entries;
}

export function encodeEntries(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((value, i) => view.setBigUint64(i * 8, BigInt(value), true));
  return bytes;
}
