// Serializing a new image's first cluster: the header (v2: 72 bytes, v3: 112 with the compression
// type field), the header extensions QEMU writes (backing format, feature name table for v3) and
// the backing file name after them, all inside the first cluster.
import { FEATURE_NAME_ENTRY, HEADER_EXTENSION, HEADER_FIELD as F, QCOW2_MAGIC, V2_HEADER_LENGTH, V3_HEADER_LENGTH } from '../layout.ts';

const { backingFormat: BACKING_FORMAT, featureNames: FEATURE_NAMES, dataFile: DATA_FILE, encryption: ENCRYPTION } = HEADER_EXTENSION;

/** The feature name table QEMU 7.2 writes into v3 images: [type (0 incompat, 1 compat, 2 autoclear), bit, name]. */
const FEATURE_TABLE: readonly [number, number, string][] = [
  [0, 0, 'dirty bit'],
  [0, 1, 'corrupt bit'],
  [0, 2, 'external data file'],
  [0, 3, 'compression type'],
  [0, 4, 'extended L2 entries'],
  [1, 0, 'lazy refcounts'],
  [2, 0, 'bitmaps'],
  [2, 1, 'raw external data'],
];

export interface NewHeader {
  readonly version: 2 | 3;
  readonly clusterBits: number;
  readonly size: number;
  readonly l1Size: number;
  readonly l1TableOffset: number;
  readonly refcountTableOffset: number;
  readonly refcountTableClusters: number;
  readonly incompatible: bigint;
  readonly compatible: bigint;
  readonly refcountOrder: number;
  readonly backingFile?: string;
  readonly backingFormat?: string;
  /** External data file name (its extension goes after the backing format's). */
  readonly dataFile?: string;
  readonly autoclear?: bigint;
  /** An existing image's snapshot table, kept when its header is rewritten (amend). */
  readonly nbSnapshots?: number;
  readonly snapshotsOffset?: number;
  /** Byte 104: 0 zlib, 1 zstd (a non-zlib type also sets incompatible bit 3, the caller's `incompatible`). */
  readonly compressionType?: number;
  /** 0 none, 1 aes, 2 luks (encryption/header-extension.ts). */
  readonly cryptMethod?: number;
  /** The full disk encryption header pointer's data (offset and length, 16 bytes): luks. */
  readonly encryptionExtension?: Uint8Array;
}

/** The first cluster's bytes; throws when the header, extensions and backing name do not fit. */
export function buildHeader(h: NewHeader): Uint8Array {
  const clusterSize = 2 ** h.clusterBits;
  const out = new Uint8Array(clusterSize);
  const view = new DataView(out.buffer);
  const encoder = new TextEncoder();
  view.setUint32(F.magic, QCOW2_MAGIC);
  view.setUint32(F.version, h.version);
  view.setUint32(F.clusterBits, h.clusterBits);
  view.setBigUint64(F.size, BigInt(h.size));
  view.setUint32(F.cryptMethod, h.cryptMethod ?? 0);
  view.setUint32(F.l1Size, h.l1Size);
  view.setBigUint64(F.l1TableOffset, BigInt(h.l1TableOffset));
  view.setBigUint64(F.refcountTableOffset, BigInt(h.refcountTableOffset));
  view.setUint32(F.refcountTableClusters, h.refcountTableClusters);
  view.setUint32(F.nbSnapshots, h.nbSnapshots ?? 0);
  view.setBigUint64(F.snapshotsOffset, BigInt(h.snapshotsOffset ?? 0));
  let at = V2_HEADER_LENGTH;
  if (h.version === 3) {
    view.setBigUint64(F.incompatibleFeatures, h.incompatible);
    view.setBigUint64(F.compatibleFeatures, h.compatible);
    view.setBigUint64(F.autoclearFeatures, h.autoclear ?? 0n);
    view.setUint32(F.refcountOrder, h.refcountOrder);
    view.setUint32(F.headerLength, V3_HEADER_LENGTH);
    out[F.compressionType] = h.compressionType ?? 0; // 0 zlib, 1 zstd (bytes 105–111 are padding)
    at = V3_HEADER_LENGTH;
  }
  const extension = (type: number, data: Uint8Array) => {
    const padded = Math.ceil(data.length / 8) * 8;
    if (at + 8 + padded + 8 > clusterSize) throw new Error('the header extensions do not fit in the first cluster');
    view.setUint32(at, type);
    view.setUint32(at + 4, data.length);
    out.set(data, at + 8);
    at += 8 + padded;
  };
  if (h.backingFormat !== undefined) extension(BACKING_FORMAT, encoder.encode(h.backingFormat));
  if (h.dataFile !== undefined) extension(DATA_FILE, encoder.encode(h.dataFile));
  if (h.encryptionExtension !== undefined) extension(ENCRYPTION, h.encryptionExtension);
  // QEMU 7.2 leaves the table out of images with clusters of 4 KiB and less.
  if (h.version === 3 && clusterSize > 4096) {
    const table = new Uint8Array(FEATURE_TABLE.length * FEATURE_NAME_ENTRY);
    FEATURE_TABLE.forEach(([type, bit, name], i) => {
      table[i * FEATURE_NAME_ENTRY] = type;
      table[i * FEATURE_NAME_ENTRY + 1] = bit;
      table.set(encoder.encode(name), i * FEATURE_NAME_ENTRY + 2);
    });
    extension(FEATURE_NAMES, table);
  }
  at += 8; // end of extensions (zeroes)
  if (h.backingFile !== undefined) {
    const name = encoder.encode(h.backingFile);
    if (at + name.length > clusterSize) throw new Error('Backing file name too long');
    out.set(name, at);
    view.setBigUint64(F.backingFileOffset, BigInt(at));
    view.setUint32(F.backingFileSize, name.length);
  }
  return out;
}
