import { codedError, corrupt } from '../errors.ts';
import { MAX_BACKING_NAME, MAX_CLUSTER_BITS, MAX_L1_BYTES, MAX_REFCOUNT_TABLE_BYTES, MAX_SNAPSHOTS, MAX_VIRTUAL_SIZE, MIN_CLUSTER_BITS } from '../limits.ts';
import { parseExtensions, type HeaderExtensions } from './extensions.ts';
import { checkCryptMethod } from '../encryption/header-extension.ts';
import { COMPRESSION_ZLIB, COMPRESSION_ZSTD } from '../codecs.ts';
import { INCOMPAT_COMPRESSION, INCOMPAT_EXTL2, unknownIncompatible } from './features.ts';
import { HEADER_FIELD as F, QCOW2_MAGIC, V2_HEADER_LENGTH, V3_MIN_HEADER_LENGTH, l1EntriesFor } from '../layout.ts';

export interface Qcow2Header {
  readonly version: 2 | 3;
  readonly backingFileOffset: number;
  readonly backingFileSize: number;
  readonly clusterBits: number;
  readonly clusterSize: number;
  readonly size: number;
  readonly cryptMethod: number;
  readonly l1Size: number;
  readonly l1TableOffset: number;
  readonly refcountTableOffset: number;
  readonly refcountTableClusters: number;
  readonly nbSnapshots: number;
  readonly snapshotsOffset: number;
  readonly incompatible: bigint;
  readonly compatible: bigint;
  readonly autoclear: bigint;
  readonly refcountOrder: number;
  readonly headerLength: number;
  readonly compressionType: number;
  readonly extendedL2: boolean;
  readonly backingFile?: string;
  readonly extensions: HeaderExtensions;
}

/** Parse and check the header from the image's first cluster (or its first 4 KiB, whichever is read). */
export function parseHeader(head: Uint8Array, fileSize: number, filename: string): Qcow2Header {
  const bad = (what: string) => corrupt(filename, what);
  if (head.length < V2_HEADER_LENGTH) throw new Error(`Could not open '${filename}': image is too short for a qcow2 header`);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const u64 = (at: number): number => {
    const value = view.getBigUint64(at);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`a 64-bit field at byte ${at} is out of range`);
    return Number(value);
  };
  if (view.getUint32(F.magic) !== QCOW2_MAGIC) throw new Error(`Could not open '${filename}': not a qcow2 image (bad magic)`);
  const version = view.getUint32(F.version);
  if (version !== 2 && version !== 3) {
    throw new Error(`Could not open '${filename}': Unsupported qcow2 version ${version}`);
  }
  const clusterBits = view.getUint32(F.clusterBits);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw bad(`Unsupported cluster size: 2^${clusterBits}`);
  }
  const clusterSize = 2 ** clusterBits;
  const v3 = version === 3;
  const headerLength = v3 ? view.getUint32(F.headerLength) : V2_HEADER_LENGTH;
  if (v3 && (headerLength < V3_MIN_HEADER_LENGTH || headerLength % 8 !== 0 || headerLength > Math.min(head.length, clusterSize))) {
    throw bad(`qcow2 header length ${headerLength} is invalid`);
  }
  const incompatible = v3 ? view.getBigUint64(F.incompatibleFeatures) : 0n;
  const compatible = v3 ? view.getBigUint64(F.compatibleFeatures) : 0n;
  const autoclear = v3 ? view.getBigUint64(F.autoclearFeatures) : 0n;
  const refcountOrder = v3 ? view.getUint32(F.refcountOrder) : 4;
  if (refcountOrder > 6) throw bad(`Reference count entry width too large; may not exceed 64 bits`);
  // As QEMU: the field is read whenever the header is long enough, and the bit and the type must agree.
  const compressionType = v3 && headerLength > F.compressionType ? head[F.compressionType]! : 0;
  if (incompatible & INCOMPAT_COMPRESSION && compressionType === COMPRESSION_ZLIB) {
    throw new Error(`Could not open '${filename}': qcow2: Compression type incompatible feature bit must not be set`);
  }
  if (compressionType > COMPRESSION_ZSTD) {
    throw codedError(`Could not open '${filename}': qcow2: unknown compression type: ${compressionType}`, 'unsupported-feature');
  }
  if (compressionType !== COMPRESSION_ZLIB && !(incompatible & INCOMPAT_COMPRESSION)) {
    throw new Error(`Could not open '${filename}': qcow2: Compression type incompatible feature bit must be set`);
  }

  const extensionsStart = headerLength;
  const extensions = parseExtensions(head.subarray(0, Math.min(head.length, clusterSize)), extensionsStart, filename);
  const unknown = unknownIncompatible(incompatible, extensions.featureNames);
  if (unknown.length) throw new Error(`Could not open '${filename}': Unsupported qcow2 feature(s): ${unknown.join(', ')}`);

  const cryptMethod = view.getUint32(F.cryptMethod);
  checkCryptMethod(cryptMethod, extensions, filename);

  const size = u64(F.size);
  if (size > MAX_VIRTUAL_SIZE) throw bad(`virtual size ${size} is too large`);
  const l1Size = view.getUint32(F.l1Size);
  if (l1Size * 8 > MAX_L1_BYTES) throw bad(`Active L1 table too large`);
  const extendedL2 = (incompatible & INCOMPAT_EXTL2) !== 0n;
  if (l1Size < l1EntriesFor(size, clusterSize, extendedL2)) throw bad('L1 table is too small for the virtual size');
  const l1TableOffset = u64(F.l1TableOffset);
  const refcountTableOffset = u64(F.refcountTableOffset);
  const refcountTableClusters = view.getUint32(F.refcountTableClusters);
  if (refcountTableClusters * clusterSize > MAX_REFCOUNT_TABLE_BYTES) throw bad('Reference count table too large');
  const nbSnapshots = view.getUint32(F.nbSnapshots);
  if (nbSnapshots > MAX_SNAPSHOTS) throw bad('Too many snapshots');
  const snapshotsOffset = u64(F.snapshotsOffset);
  for (const [name, offset] of [['L1 table', l1TableOffset], ['refcount table', refcountTableOffset], ['snapshot table', snapshotsOffset]] as const) {
    if (offset % clusterSize !== 0 && !(name === 'snapshot table' && nbSnapshots === 0)) throw bad(`${name} offset ${offset} is not cluster aligned`);
  }
  if (l1Size > 0 && l1TableOffset + l1Size * 8 > Math.max(fileSize, l1TableOffset)) {
    throw bad(`L1 table (offset ${l1TableOffset}, ${l1Size} entries) lies beyond the end of the file`);
  }

  const backingFileOffset = u64(F.backingFileOffset);
  const backingFileSize = view.getUint32(F.backingFileSize);
  let backingFile: string | undefined;
  if (backingFileOffset !== 0) {
    if (backingFileSize > MAX_BACKING_NAME || backingFileOffset + backingFileSize > Math.min(head.length, clusterSize)) {
      throw bad('Backing file name too long');
    }
    backingFile = new TextDecoder().decode(head.subarray(backingFileOffset, backingFileOffset + backingFileSize));
  }

  return {
    version, backingFileOffset, backingFileSize, clusterBits, clusterSize, size, cryptMethod, l1Size,
    l1TableOffset, refcountTableOffset, refcountTableClusters, nbSnapshots, snapshotsOffset,
    incompatible, compatible, autoclear, refcountOrder, headerLength, compressionType, extendedL2,
    ...(backingFile !== undefined ? { backingFile } : {}),
    extensions,
  };
}
