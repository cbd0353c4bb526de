// QEMU's original qcow format (version 1), as QEMU documents and reads it: a 48-byte big-endian
// header, an optional backing file name, an L1 table of u64 L2-table offsets, L2 tables of u64
// cluster offsets. Bit 63 of an L2 entry marks a compressed cluster, whose compressed size sits
// in the bits above the offset (63 - cluster_bits of offset).
import { codedError } from '@tessera/module-kit/coded-error';

export const MAGIC = 0x514649fb; // "QFI\xfb"
export const VERSION = 1;
export const HEADER_BYTES = 48;
export const CRYPT_NONE = 0;
export const CRYPT_AES = 1;
export const MAX_BACKING_NAME = 1023;
export const COMPRESSED = 1n << 63n;

export interface QcowHeader {
  readonly backingFileOffset: number;
  readonly backingFileSize: number;
  readonly mtime: number;
  readonly size: number;
  readonly clusterBits: number;
  readonly l2Bits: number;
  readonly cryptMethod: number;
  readonly l1TableOffset: number;
}

export interface Geometry {
  readonly clusterSize: number;
  readonly l2Entries: number;
  readonly l1Entries: number;
}

const corrupt = (message: string) => codedError(message, 'corrupt-image');

export function geometry(h: Pick<QcowHeader, 'clusterBits' | 'l2Bits' | 'size'>): Geometry {
  const clusterSize = 2 ** h.clusterBits;
  const l2Entries = 2 ** h.l2Bits;
  return { clusterSize, l2Entries, l1Entries: Math.ceil(h.size / (clusterSize * l2Entries)) };
}

/** Decode and check the header; messages as qemu's where it has one. */
export function parseHeader(bytes: Uint8Array, fileSize: number): QcowHeader {
  if (bytes.length < HEADER_BYTES) throw corrupt('Image not in qcow format (the file is shorter than its header)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (view.getUint32(0) !== MAGIC) throw corrupt('Image not in qcow format (bad magic)');
  const version = view.getUint32(4);
  if (version !== VERSION) throw codedError(`Unsupported qcow version ${version}`, 'unsupported-feature');
  const header: QcowHeader = {
    backingFileOffset: Number(view.getBigUint64(8)),
    backingFileSize: view.getUint32(16),
    mtime: view.getUint32(20),
    size: Number(view.getBigUint64(24)),
    clusterBits: view.getUint8(32),
    l2Bits: view.getUint8(33),
    cryptMethod: view.getUint32(36),
    l1TableOffset: Number(view.getBigUint64(40)),
  };
  if (header.size <= 1) throw corrupt('Image size is too small (must be at least 2 bytes)');
  if (header.size > 2 ** 52) throw corrupt('Image too large');
  if (header.clusterBits < 9 || header.clusterBits > 16) throw corrupt('Cluster size must be between 512 and 64k');
  if (header.l2Bits < 9 - 3 || header.l2Bits > 16 - 3) throw corrupt('L2 table size must be between 512 and 64k');
  if (header.cryptMethod > CRYPT_AES) throw corrupt('invalid encryption method in qcow header');
  if (header.cryptMethod === CRYPT_AES) {
    throw codedError(
      "encrypted qcow images (AES-CBC) are not supported: qcow's encryption is insecure and QEMU no longer writes it; decrypt the image with qemu-img (qemu-img convert --object secret,id=s0,data=PASSWORD --image-opts driver=qcow,file.filename=IMAGE,encrypt.key-secret=s0 -O qcow2 OUT.qcow2)",
      'unsupported-feature',
    );
  }
  const { l1Entries } = geometry(header);
  if (header.l1TableOffset % 8 !== 0 || header.l1TableOffset < HEADER_BYTES || header.l1TableOffset + l1Entries * 8 > fileSize) {
    throw corrupt(`qcow image is corrupt: L1 table of ${l1Entries} entries at ${header.l1TableOffset} does not lie in the file`);
  }
  if (header.backingFileOffset !== 0) {
    if (header.backingFileSize > MAX_BACKING_NAME) throw corrupt('Backing file name too long');
    if (header.backingFileOffset + header.backingFileSize > fileSize) throw corrupt('qcow image is corrupt: the backing file name lies beyond the end of the file');
  }
  return header;
}

export function encodeHeader(h: QcowHeader): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC);
  view.setUint32(4, VERSION);
  view.setBigUint64(8, BigInt(h.backingFileOffset));
  view.setUint32(16, h.backingFileSize);
  view.setUint32(20, h.mtime);
  view.setBigUint64(24, BigInt(h.size));
  view.setUint8(32, h.clusterBits);
  view.setUint8(33, h.l2Bits);
  view.setUint32(36, h.cryptMethod);
  view.setBigUint64(40, BigInt(h.l1TableOffset));
  return bytes;
}

/** Table entries as bigints (bit 63 and the compressed size matter). */
export function decodeTable(bytes: Uint8Array): BigUint64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const entries = new BigUint64Array(bytes.length / 8);
  for (let i = 0; i < entries.length; i++) entries[i] = view.getBigUint64(i * 8);
  return entries;
}

export function encodeEntry(value: bigint | number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(value));
  return bytes;
}
