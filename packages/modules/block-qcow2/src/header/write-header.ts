// Serializing a new image's first cluster: the header (v2: 72 bytes, v3: 112 with the compression
// type field), the header extensions QEMU writes (backing format, feature name table for v3) and
// the backing file name after them, all inside the first cluster.
import { QCOW2_MAGIC } from './header.ts';

const BACKING_FORMAT = 0xe2792aca;
const FEATURE_NAMES = 0x6803f857;
const DATA_FILE = 0x44415441;

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
}

/** The first cluster's bytes; throws when the header, extensions and backing name do not fit. */
export function buildHeader(h: NewHeader): Uint8Array {
  const clusterSize = 2 ** h.clusterBits;
  const out = new Uint8Array(clusterSize);
  const view = new DataView(out.buffer);
  const encoder = new TextEncoder();
  view.setUint32(0, QCOW2_MAGIC);
  view.setUint32(4, h.version);
  view.setUint32(20, h.clusterBits);
  view.setBigUint64(24, BigInt(h.size));
  view.setUint32(32, 0); // no encryption
  view.setUint32(36, h.l1Size);
  view.setBigUint64(40, BigInt(h.l1TableOffset));
  view.setBigUint64(48, BigInt(h.refcountTableOffset));
  view.setUint32(56, h.refcountTableClusters);
  view.setUint32(60, h.nbSnapshots ?? 0);
  view.setBigUint64(64, BigInt(h.snapshotsOffset ?? 0));
  let at = 72;
  if (h.version === 3) {
    view.setBigUint64(72, h.incompatible);
    view.setBigUint64(80, h.compatible);
    view.setBigUint64(88, h.autoclear ?? 0n);
    view.setUint32(96, h.refcountOrder);
    view.setUint32(100, 112);
    out[104] = 0; // compression type: zlib (bytes 105–111 are padding)
    at = 112;
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
  // QEMU 7.2 leaves the table out of images with clusters of 4 KiB and less.
  if (h.version === 3 && clusterSize > 4096) {
    const table = new Uint8Array(FEATURE_TABLE.length * 48);
    FEATURE_TABLE.forEach(([type, bit, name], i) => {
      table[i * 48] = type;
      table[i * 48 + 1] = bit;
      table.set(encoder.encode(name), i * 48 + 2);
    });
    extension(FEATURE_NAMES, table);
  }
  at += 8; // end of extensions (zeroes)
  if (h.backingFile !== undefined) {
    const name = encoder.encode(h.backingFile);
    if (at + name.length > clusterSize) throw new Error('Backing file name too long');
    out.set(name, at);
    view.setBigUint64(8, BigInt(at));
    view.setUint32(16, name.length);
  }
  return out;
}
