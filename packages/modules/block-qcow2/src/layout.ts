// qcow2's on-disk layout in one place, as QEMU keeps it in qcow2.h: header field offsets, header
// extension types, the masks and flags of table entries, their codecs, and the geometry the header
// implies. Every other file decodes and encodes through these, so the writer, the reader, check
// and the maintenance operations read every field alike. No imports: everything may import this.

/** "QFI\xfb" */
export const QCOW2_MAGIC = 0x514649fb;

/** Byte offsets of the header's fields (docs/interop/qcow2.rst). v2 headers end at 72. */
export const HEADER_FIELD = {
  magic: 0,
  version: 4,
  backingFileOffset: 8,
  backingFileSize: 16,
  clusterBits: 20,
  /** size (8), crypt_method (4), l1_size (4), l1_table_offset (8): 24–47, one sector. */
  size: 24,
  cryptMethod: 32,
  l1Size: 36,
  l1TableOffset: 40,
  /** refcount_table_offset (8), refcount_table_clusters (4): 48–59. */
  refcountTableOffset: 48,
  refcountTableClusters: 56,
  /** nb_snapshots (4), snapshots_offset (8): 60–71. */
  nbSnapshots: 60,
  snapshotsOffset: 64,
  incompatibleFeatures: 72,
  compatibleFeatures: 80,
  autoclearFeatures: 88,
  refcountOrder: 96,
  headerLength: 100,
  compressionType: 104,
} as const;

/** Header lengths: a v2 header, the v3 header QEMU writes (with the compression type field). */
export const V2_HEADER_LENGTH = 72;
export const V3_HEADER_LENGTH = 112;
/** The smallest v3 header (without the compression type field). */
export const V3_MIN_HEADER_LENGTH = 104;

/** Header extension types. */
export const HEADER_EXTENSION = {
  end: 0x00000000,
  backingFormat: 0xe2792aca,
  featureNames: 0x6803f857,
  bitmaps: 0x23852875,
  encryption: 0x0537be77,
  dataFile: 0x44415441,
} as const;

/** One feature name table entry: type (1), bit (1), name (46). */
export const FEATURE_NAME_ENTRY = 48;

/** Snapshot table entry: the fixed part's fields, then extra data, id and name, padded to 8 bytes. */
export const SNAPSHOT_FIELD = {
  l1TableOffset: 0,
  l1Size: 8,
  idSize: 12,
  nameSize: 14,
  dateSec: 16,
  dateNsec: 20,
  vmClockNsec: 24,
  vmStateSize: 32,
  extraDataSize: 36,
} as const;
export const SNAPSHOT_FIXED_BYTES = 40;

// --- Table entries ----------------------------------------------------------------------------

/** QCOW_OFLAG_COPIED (L1 and standard L2 entries): the cluster's refcount is exactly 1, write in place. */
export const OFLAG_COPIED = 1n << 63n;
/** QCOW_OFLAG_COMPRESSED (L2 entries): a compressed cluster descriptor. */
export const OFLAG_COMPRESSED = 1n << 62n;
/** QCOW_OFLAG_ZERO (standard L2 entries): the cluster reads as zeroes. */
export const OFLAG_ZERO = 1n;

/** L1 entry: the L2 table's offset (bits 9–55); bit 63 is QCOW_OFLAG_COPIED. */
export const L1E_OFFSET_MASK = 0x00fffffffffffe00n;
/** L1 entry bits that must be zero (QEMU's L1E_RESERVED_MASK). */
export const L1E_RESERVED_MASK = 0x7f000000000001ffn;
/** Standard L2 entry: the data cluster's offset (bits 9–55). */
export const L2E_OFFSET_MASK = 0x00fffffffffffe00n;
/** Refcount table entry: the refcount block's offset is bits 9–63 (QEMU's REFT_OFFSET_MASK). */
export const REFT_OFFSET_MASK = 0xfffffffffffffe00n;
/** Refcount table entry bits 0–8: reserved, must be zero (QEMU's REFT_RESERVED_MASK). */
export const REFT_RESERVED_MASK = 0x1ffn;
/** Bitmap table entry: the cluster's offset (bits 9–55), and the bits that must be zero. */
export const BME_OFFSET_MASK = 0x00fffffffffffe00n;
export const BME_RESERVED_MASK = 0xff000000000001fen;
/** Bitmap table entry bit 0: the cluster reads as all ones (no offset then). */
export const BME_ALL_ONES = 1n;
/** QEMU's QCOW_MAX_CLUSTER_OFFSET: no host cluster lies at or beyond 2^56. */
export const MAX_CLUSTER_OFFSET = 2 ** 56 - 1;

/** Extended L2 bitmap: allocation bits 0–31 (one per subcluster), zero bits 32–63. */
export const SUBCLUSTERS = 32;
export const ALL_ALLOCATED = 0xffffffffn;
export const ALL_ZERO = 0xffffffffn << 32n;

/**
 * The same entries as two big-endian 32-bit halves, for loops over whole tables where a BigInt
 * per entry costs (the L2 lookup's runs, fresh writes, every open's refcount table).
 */
export const HIGH_COPIED = 0x80000000;
export const HIGH_COMPRESSED = 0x40000000;
/** Offset bits 32–55 of an L1/L2 entry's high half; bits 9–31 of its low half. */
export const HIGH_OFFSET_MASK = 0x00ffffff;
export const LOW_OFFSET_MASK = 0xfffffe00;
export const LOW_ZERO = 1;

/** An L1 entry's L2 table offset, or 0 when the L2 table is not allocated. */
export function l2TableOffset(l1Entry: bigint): number {
  return Number(l1Entry & L1E_OFFSET_MASK);
}

/** A standard L2 entry's host cluster offset (data, or a zero cluster's preallocated one), or 0. */
export function l2HostOffset(l2Entry: bigint): number {
  return Number(l2Entry & L2E_OFFSET_MASK);
}

/** The L1 or L2 entry for a table or cluster at `offset` that nothing else references (COPIED set). */
export function ownedEntry(offset: number): bigint {
  return BigInt(offset) | OFLAG_COPIED;
}

/** A standard L2 entry's host offset (or an L1 entry's L2 table offset: the same bits) from its two halves (no BigInt). */
export function hostOffsetOfHalves(high: number, low: number): number {
  return (high & HIGH_OFFSET_MASK) * 2 ** 32 + ((low & LOW_OFFSET_MASK) >>> 0);
}

/**
 * How a standard L2 entry, given as its two halves, maps its cluster: decodeL2Entry's answer
 * without a BigInt, for the hot paths (a compressed entry is only named: decode it whole).
 */
export function standardKindOfHalves(high: number, low: number, hasDataFile: boolean): ClusterMapping['kind'] {
  if (high & HIGH_COMPRESSED) return 'compressed';
  if (low & LOW_ZERO) return 'zero';
  // As decodeL2Entry: offset 0 is unallocated, except in an external data file with COPIED set.
  return hostOffsetOfHalves(high, low) !== 0 || (hasDataFile && (high & HIGH_COPIED) !== 0) ? 'data' : 'unallocated';
}

/** The big-endian 32-bit word at byte `at` of a table (an entry's half), read without a DataView. */
export function wordAt(table: Uint8Array, at: number): number {
  return ((table[at]! << 24) | (table[at + 1]! << 16) | (table[at + 2]! << 8) | table[at + 3]!) >>> 0;
}

/** Store ownedEntry(host) at byte `at` of a table, as two halves (no BigInt). */
export function setOwnedEntryHalves(view: DataView, at: number, host: number): void {
  view.setUint32(at, Math.floor(host / 2 ** 32) | HIGH_COPIED);
  view.setUint32(at + 4, host % 2 ** 32);
}

/**
 * A refcount table entry's refcount block offset, from its two big-endian 32-bit halves (no BigInt:
 * every open decodes the whole table). Bits 56–63 count, as in QEMU: an entry with them set names
 * an offset no image can have (beyond MAX_CLUSTER_OFFSET), never a smaller one.
 */
export function refcountBlockOffset(high: number, low: number): number {
  return (high >>> 0) * 2 ** 32 + ((low & 0xfffffe00) >>> 0);
}

/** The same from a 64-bit entry. */
export function refcountBlockOffsetOf(entry: bigint): number {
  return Number(entry & REFT_OFFSET_MASK);
}

/** One big-endian 64-bit table entry, as the 8 bytes written for it. */
export function entryBytes(entry: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, entry);
  return bytes;
}

/** A table of 64-bit entries as stored (big-endian), `length` bytes long (zero-padded). */
export function tableBytes(entries: ArrayLike<bigint>, length = entries.length * 8): Uint8Array {
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < entries.length; i++) view.setBigUint64(i * 8, entries[i]!);
  return bytes;
}

/** Stored (big-endian) 64-bit entries, decoded. */
export function decodeTable(bytes: Uint8Array, count = bytes.length / 8): BigUint64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries = new BigUint64Array(count);
  for (let i = 0; i < count; i++) entries[i] = view.getBigUint64(i * 8);
  return entries;
}

// --- Compressed cluster descriptors --------------------------------------------------------------

/** Bits of a compressed descriptor that hold the host offset (the rest, below bit 62, count extra sectors). */
function compressedOffsetBits(clusterBits: number): bigint {
  return BigInt(62 - (clusterBits - 8));
}

/** A compressed descriptor's host offset (bytes) and its number of 512-byte sectors. */
export function decodeCompressed(entry: bigint, clusterBits: number): { readonly host: bigint; readonly sectors: number } {
  const offsetBits = compressedOffsetBits(clusterBits);
  return {
    host: entry & ((1n << offsetBits) - 1n),
    sectors: Number((entry >> offsetBits) & ((1n << (62n - offsetBits)) - 1n)) + 1,
  };
}

/** The descriptor of `length` compressed bytes at host byte `host`. */
export function encodeCompressed(host: number, length: number, clusterBits: number): bigint {
  const extraSectors = BigInt(Math.floor((host + length - 1) / 512) - Math.floor(host / 512));
  return OFLAG_COMPRESSED | (extraSectors << compressedOffsetBits(clusterBits)) | BigInt(host);
}

/** The host clusters compressed bytes touch: [first cluster, count]. */
export function compressedClusters(hostOffset: number, compressedLength: number, clusterSize: number): [number, number] {
  const first = Math.floor(hostOffset / clusterSize);
  return [first, Math.floor((hostOffset + compressedLength - 1) / clusterSize) - first + 1];
}

// --- L2 entries -----------------------------------------------------------------------------------

export type ClusterMapping =
  /** Not allocated here; with extended L2 the cluster itself may be (`hostOffset`). */
  | { readonly kind: 'unallocated'; readonly hostOffset?: number }
  /** Reads as zeroes; `hostOffset` is kept when the cluster stays allocated (QEMU's "zero, allocated"). */
  | { readonly kind: 'zero'; readonly hostOffset?: number }
  | { readonly kind: 'data'; readonly hostOffset: number }
  | { readonly kind: 'compressed'; readonly hostOffset: number; readonly compressedLength: number };

/**
 * The mapping of one cluster (standard L2) or one subcluster (extended L2, where `bitmap` holds the
 * allocation bits 0–31 and zero bits 32–63 and `subcluster` selects one).
 */
export function decodeL2Entry(
  entry: bigint,
  clusterBits: number,
  hasDataFile: boolean,
  extended?: { bitmap: bigint; subcluster: number },
): ClusterMapping {
  if (entry & OFLAG_COMPRESSED) {
    const { host, sectors } = decodeCompressed(entry, clusterBits);
    const hostOffset = Number(host);
    return { kind: 'compressed', hostOffset, compressedLength: sectors * 512 - (hostOffset % 512) };
  }
  const hostOffset = l2HostOffset(entry);
  if (extended) {
    const bit = BigInt(extended.subcluster);
    if ((extended.bitmap >> (32n + bit)) & 1n) return hostOffset ? { kind: 'zero', hostOffset } : { kind: 'zero' };
    if ((extended.bitmap >> bit) & 1n) return { kind: 'data', hostOffset };
    return hostOffset ? { kind: 'unallocated', hostOffset } : { kind: 'unallocated' };
  }
  if (entry & OFLAG_ZERO) return hostOffset ? { kind: 'zero', hostOffset } : { kind: 'zero' };
  // Offset 0 means unallocated, except in an external data file, where 0 is a real offset: there
  // every data cluster has refcount 1, so the COPIED flag tells the two apart.
  const allocated = hostOffset !== 0 || (hasDataFile && (entry & OFLAG_COPIED) !== 0n);
  return allocated ? { kind: 'data', hostOffset } : { kind: 'unallocated' };
}

/**
 * The host clusters an L2 entry holds a reference to, added to `into` (a compressed cluster's every
 * cluster it touches; a data or preallocated zero cluster's own, unless it lies in an external data
 * file, which has no refcounts).
 */
export function referencedClusters(entry: bigint, clusterBits: number, ownsData: boolean, into: number[]): void {
  const cs = 2 ** clusterBits;
  const mapping = decodeL2Entry(entry, clusterBits, !ownsData);
  if (mapping.kind === 'compressed') {
    const [first, count] = compressedClusters(mapping.hostOffset, mapping.compressedLength, cs);
    for (let c = first; c < first + count; c++) into.push(c);
    return;
  }
  const offset = l2HostOffset(entry);
  if (offset !== 0 && ownsData) into.push(offset / cs);
}

export type ClusterType = 'compressed' | 'zero-plain' | 'zero-allocated' | 'normal' | 'unallocated';

/** How an L2 entry maps its cluster, as QEMU classifies it (the zero flag does not apply with extended L2). */
export function clusterType(entry: bigint, extendedL2: boolean, hasDataFile: boolean): ClusterType {
  if (entry & OFLAG_COMPRESSED) return 'compressed';
  const offset = entry & L2E_OFFSET_MASK;
  if (!extendedL2 && entry & OFLAG_ZERO) return offset || (hasDataFile && entry & OFLAG_COPIED) ? 'zero-allocated' : 'zero-plain';
  // In an external data file offset 0 is real; the COPIED flag marks it allocated.
  return offset || (hasDataFile && entry & OFLAG_COPIED) ? 'normal' : 'unallocated';
}

/** Extended L2: the bitmap bits of subclusters `[first, end)` (allocation bits; shift by 32 for zero bits). */
export function subclusterMask(first: number, end: number): bigint {
  let mask = 0n;
  for (let u = first; u < end; u++) mask |= 1n << BigInt(u);
  return mask;
}

// --- Geometry ------------------------------------------------------------------------------------

/** Bytes per L2 entry: 8, or 16 with extended L2 (the entry, then the subcluster bitmap). */
export function l2EntrySize(extendedL2: boolean): number {
  return extendedL2 ? 16 : 8;
}

/** What the header's cluster size and L2 format imply. */
export interface Geometry {
  readonly clusterSize: number;
  readonly clusterBits: number;
  readonly extendedL2: boolean;
  readonly l2EntrySize: number;
  /** Entries in one L2 table. */
  readonly l2Entries: number;
  /** The unit of allocation state: a cluster, or with extended L2 a subcluster (1/32 of one). */
  readonly unitSize: number;
  /** Guest bytes one L2 table maps. */
  readonly l2Reach: number;
}

export function geometry(header: { readonly clusterBits: number; readonly extendedL2: boolean }): Geometry {
  const clusterSize = 2 ** header.clusterBits;
  const entrySize = l2EntrySize(header.extendedL2);
  const l2Entries = clusterSize / entrySize;
  return {
    clusterSize,
    clusterBits: header.clusterBits,
    extendedL2: header.extendedL2,
    l2EntrySize: entrySize,
    l2Entries,
    unitSize: header.extendedL2 ? clusterSize / SUBCLUSTERS : clusterSize,
    l2Reach: clusterSize * l2Entries,
  };
}

/** L1 entries needed to map `size` guest bytes. */
export function l1EntriesFor(size: number, clusterSize: number, extendedL2: boolean): number {
  return Math.ceil(size / (clusterSize * (clusterSize / l2EntrySize(extendedL2))));
}

/** Clusters that `entries` 64-bit table entries occupy (an L1 table, a refcount table). */
export function tableClusters(entries: number, clusterSize: number): number {
  return Math.ceil((entries * 8) / clusterSize);
}

/** Where a guest offset's entry is: its L1 index, the entry's byte offset in its L2 table, the offset in its cluster. */
export function guestPosition(g: Geometry, offset: number): { readonly cluster: number; readonly l1Index: number; readonly l2At: number; readonly inCluster: number } {
  const cluster = Math.floor(offset / g.clusterSize);
  return {
    cluster,
    l1Index: Math.floor(cluster / g.l2Entries),
    l2At: (cluster % g.l2Entries) * g.l2EntrySize,
    inCluster: offset - cluster * g.clusterSize,
  };
}
