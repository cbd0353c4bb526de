import type { BlockNode } from '@tessera/core';
import { TableCache } from '../cache/table-cache.ts';
import { corrupt } from '../errors.ts';
import type { Qcow2Header } from '../header/header.ts';
import { L2_CACHE_BYTES } from '../limits.ts';
import { decodeL2Entry, geometry, guestPosition, hostOffsetOfHalves, standardKindOfHalves, wordAt, type ClusterMapping, type Geometry } from '../layout.ts';

export type Extent = ClusterMapping & {
  /** Bytes from the queried guest offset that map this way (within one cluster or subcluster). */
  readonly length: number;
  /** For data: where the queried offset itself lies in the data file. */
  readonly hostPosition?: number;
};

/** Where each half of a 64-bit entry lies in a Uint32Array over a BigUint64Array (the host's byte order). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const HIGH_WORD = LITTLE_ENDIAN ? 1 : 0;
const LOW_WORD = LITTLE_ENDIAN ? 0 : 1;

/** Guest offsets to host locations through the L1 and L2 tables. */
export class ClusterMap {
  private readonly l2Cache: TableCache;
  /** The header's table geometry (entry size, entries per table, the reach of one). */
  readonly geometry: Geometry;

  constructor(
    private readonly header: Qcow2Header,
    /** The active L1 table (the writer updates it in place). */
    readonly l1: BigUint64Array,
    private readonly file: BlockNode,
    /**
     * Changed L2 entries stay in memory until writeBack() (qemu's metadata cache under
     * cache=unsafe), instead of being written at once.
     */
    readonly deferWrites = false,
  ) {
    this.l2Cache = new TableCache(L2_CACHE_BYTES, (offset, table) => this.storeTable(offset, table));
    this.geometry = geometry(header);
    this.hasDataFile = header.extensions.dataFile !== undefined;
    this.l1Halves = new Uint32Array(l1.buffer, l1.byteOffset, l1.length * 2);
  }

  private readonly hasDataFile: boolean;
  /** The L1 table's entries as 32-bit halves (the same memory: the writer's changes show), read without a BigInt. */
  private readonly l1Halves: Uint32Array;

  /** How the guest byte at `offset` is stored, and for how many bytes (at most `maxLength`) that holds. */
  async lookup(offset: number, maxLength: number): Promise<Extent> {
    // Called for every read and block status: no BigInt, DataView or intermediate object on the
    // path of a standard entry in a cached table (they made most of a server's garbage).
    const g = this.geometry;
    const { clusterSize } = g;
    const { cluster: clusterIndex, l1Index, l2At: at, inCluster } = guestPosition(g, offset);
    const unitEnd = (Math.floor(inCluster / g.unitSize) + 1) * g.unitSize;
    const length = Math.min(maxLength, unitEnd - inCluster);
    const l2Offset = l1Index < this.l1.length ? hostOffsetOfHalves(this.l1Halves[2 * l1Index + HIGH_WORD]!, this.l1Halves[2 * l1Index + LOW_WORD]!) : 0;
    if (l2Offset === 0) {
      // No L2 table: its whole reach is unallocated.
      const spanEnd = (l1Index + 1) * g.l2Reach;
      return { kind: 'unallocated', length: Math.min(maxLength, spanEnd - offset) };
    }
    // Only aligned tables are cached: a misaligned offset misses, and l2Table() refuses it.
    const table = this.l2Cache.peek(l2Offset) ?? (await this.l2Table(l2Offset));
    const high = wordAt(table, at);
    const low = wordAt(table, at + 4);
    const kind = g.extendedL2 ? 'extended' : standardKindOfHalves(high, low, this.hasDataFile);
    if (kind === 'extended' || kind === 'compressed') return this.decodeWhole(table, at, inCluster, length, maxLength);
    const hostOffset = hostOffsetOfHalves(high, low);
    if (hostOffset % clusterSize !== 0) throw corrupt(this.file.filename, `data cluster offset ${hostOffset} is not cluster aligned`);
    // The clusters after this one that map the same way (and, with a host offset, lie right after
    // it on the host) are one extent: a caller reads or reports them in one step.
    const more = length >= maxLength ? 0 : this.sameAfter(table, clusterIndex, kind, hostOffset, Math.ceil((maxLength - length) / clusterSize));
    const runLength = Math.min(maxLength, length + more * clusterSize);
    if (kind === 'data') return { kind, hostOffset, length: runLength, hostPosition: hostOffset + inCluster };
    if (hostOffset !== 0) return { kind, hostOffset, length: runLength, hostPosition: hostOffset + inCluster };
    return { kind, length: runLength };
  }

  /** A compressed entry, or one of extended L2 (its subcluster bitmap), decoded whole: one cluster or subcluster. */
  private decodeWhole(table: Uint8Array, at: number, inCluster: number, length: number, maxLength: number): Extent {
    const g = this.geometry;
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const mapping = decodeL2Entry(
      view.getBigUint64(at),
      g.clusterBits,
      this.hasDataFile,
      g.extendedL2 ? { bitmap: view.getBigUint64(at + 8), subcluster: Math.floor(inCluster / g.unitSize) } : undefined,
    );
    if (mapping.kind === 'compressed') return { ...mapping, length: Math.min(maxLength, g.clusterSize - inCluster) };
    if (mapping.hostOffset !== undefined && mapping.hostOffset % g.clusterSize !== 0) {
      throw corrupt(this.file.filename, `data cluster offset ${mapping.hostOffset} is not cluster aligned`);
    }
    if (mapping.hostOffset !== undefined) return { ...mapping, length, hostPosition: mapping.hostOffset + inCluster };
    return { ...mapping, length };
  }

  /**
   * How many of the (at most `limit`) clusters after `clusterIndex`, in the same L2 table, map
   * like it: the same kind, and host clusters that follow on. Standard L2 entries only.
   */
  private sameAfter(table: Uint8Array, clusterIndex: number, kind: ClusterMapping['kind'], hostOffset: number, limit: number): number {
    const { clusterSize, l2Entries } = this.geometry;
    const start = clusterIndex % l2Entries;
    const end = Math.min(l2Entries, start + 1 + limit);
    let count = 0;
    for (let index = start + 1; index < end; index++) {
      const high = wordAt(table, index * 8);
      const low = wordAt(table, index * 8 + 4);
      if (standardKindOfHalves(high, low, this.hasDataFile) !== kind) break;
      // A data cluster, or a zero one that keeps its host cluster, must follow on the host; an
      // unallocated or plain zero one must have none, as the first.
      const expected = hostOffset === 0 && kind !== 'data' ? 0 : hostOffset + (count + 1) * clusterSize;
      if (hostOffsetOfHalves(high, low) !== expected) break;
      count++;
    }
    return count;
  }

  /** The L2 table at `offset`, cached; the writer changes it in place and writes it through. */
  l2Table(offset: number): Promise<Uint8Array> {
    if (offset % this.header.clusterSize !== 0) throw corrupt(this.file.filename, `L2 table offset ${offset} is not cluster aligned`);
    return this.l2Cache.get(offset, () => this.readTable(offset));
  }

  /** A new L2 table the writer placed at `offset` (possibly a freed cluster whose old table is cached). */
  adoptL2Table(offset: number, table: Uint8Array): void {
    this.l2Cache.set(offset, table);
  }

  /**
   * Entries `[from, to)` (bytes) of the L2 table at `offset`, changed in `table`: written now, or
   * left dirty in the cache when writes are deferred.
   */
  async storeEntries(offset: number, table: Uint8Array, from: number, to: number): Promise<void> {
    if (this.deferWrites) {
      this.l2Cache.markDirty(offset, table);
      return;
    }
    await this.file.write(offset + from, table.subarray(from, to));
    this.l2Cache.set(offset, table); // the cached copy, should it have been evicted meanwhile
  }

  /**
   * With deferred writes: what must be on disk before any deferred L2 table is written (the
   * refcounts of the clusters its entries point to), as QEMU's L2 cache depends on its refcount
   * block cache. A process crash then leaves at most leaks, even under cache=unsafe.
   */
  private dependency: (() => Promise<void>) | undefined;

  dependsOn(dependency: () => Promise<void>): void {
    this.dependency = dependency;
  }

  private async storeTable(offset: number, table: Uint8Array): Promise<void> {
    await this.dependency?.();
    await this.file.write(offset, table);
  }

  /** Keep the L2 table at `offset` cached (a write under way will change it) until unpinned. */
  pin(offset: number): void {
    this.l2Cache.pin(offset);
  }

  unpin(offset: number): void {
    this.l2Cache.unpin(offset);
  }

  /** L2 tables with deferred changes. */
  get hasDeferredWrites(): boolean {
    return this.l2Cache.hasDirty;
  }

  /** Write the deferred L2 tables. */
  writeBack(): Promise<void> {
    return this.l2Cache.writeBack();
  }

  private async readTable(offset: number): Promise<Uint8Array> {
    const size = this.header.clusterSize;
    if (offset + size > this.file.size) throw corrupt(this.file.filename, `L2 table at ${offset} lies beyond the end of the file`);
    const table = new Uint8Array(size);
    await this.file.read(offset, table);
    return table;
  }
}
