import type { BlockNode } from '@tessera/core';
import { TableCache } from '../cache/table-cache.ts';
import { corrupt } from '../errors.ts';
import type { Qcow2Header } from '../header/header.ts';
import { L2_CACHE_BYTES } from '../limits.ts';
import { HIGH_COMPRESSED, HIGH_COPIED, LOW_ZERO, decodeL2Entry, geometry, guestPosition, hostOffsetOfHalves, l2TableOffset, type ClusterMapping, type Geometry } from '../layout.ts';

export type Extent = ClusterMapping & {
  /** Bytes from the queried guest offset that map this way (within one cluster or subcluster). */
  readonly length: number;
  /** For data: where the queried offset itself lies in the data file. */
  readonly hostPosition?: number;
};

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
  }

  /** How the guest byte at `offset` is stored, and for how many bytes (at most `maxLength`) that holds. */
  async lookup(offset: number, maxLength: number): Promise<Extent> {
    const g = this.geometry;
    const { clusterSize, clusterBits } = g;
    const { cluster: clusterIndex, l1Index, l2At: at, inCluster } = guestPosition(g, offset);
    const unitEnd = (Math.floor(inCluster / g.unitSize) + 1) * g.unitSize;
    const length = Math.min(maxLength, unitEnd - inCluster);
    const l1Entry = this.l1[l1Index] ?? 0n;
    const l2Offset = l2TableOffset(l1Entry);
    if (l2Offset === 0) {
      // No L2 table: its whole reach is unallocated.
      const spanEnd = (l1Index + 1) * g.l2Reach;
      return { kind: 'unallocated', length: Math.min(maxLength, spanEnd - offset) };
    }
    const table = await this.l2Table(l2Offset);
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const entry = view.getBigUint64(at);
    const mapping = decodeL2Entry(
      entry,
      clusterBits,
      this.header.extensions.dataFile !== undefined,
      g.extendedL2 ? { bitmap: view.getBigUint64(at + 8), subcluster: Math.floor(inCluster / g.unitSize) } : undefined,
    );
    if (mapping.kind === 'compressed') return { ...mapping, length: Math.min(maxLength, clusterSize - inCluster) };
    if (mapping.hostOffset !== undefined && mapping.hostOffset % clusterSize !== 0) {
      throw corrupt(this.file.filename, `data cluster offset ${mapping.hostOffset} is not cluster aligned`);
    }
    // The clusters after this one that map the same way (and, with a host offset, lie right after
    // it on the host) are one extent: a caller reads or reports them in one step.
    const more = g.extendedL2 || length >= maxLength ? 0 : this.sameAfter(view, clusterIndex, mapping, Math.ceil((maxLength - length) / clusterSize));
    const runLength = Math.min(maxLength, length + more * clusterSize);
    if (mapping.hostOffset !== undefined) return { ...mapping, length: runLength, hostPosition: mapping.hostOffset + inCluster };
    return { ...mapping, length: runLength };
  }

  /**
   * How many of the (at most `limit`) clusters after `clusterIndex`, in the same L2 table, map
   * like it: the same kind, and host clusters that follow on. Standard L2 entries only.
   */
  private sameAfter(view: DataView, clusterIndex: number, first: ClusterMapping, limit: number): number {
    const { clusterSize, l2Entries } = this.geometry;
    const hasDataFile = this.header.extensions.dataFile !== undefined;
    const start = clusterIndex % l2Entries;
    const end = Math.min(l2Entries, start + 1 + limit);
    let count = 0;
    for (let index = start + 1; index < end; index++) {
      // The entry as two 32-bit halves: no BigInt on this hot path.
      const high = view.getUint32(index * 8);
      const low = view.getUint32(index * 8 + 4);
      if (high & HIGH_COMPRESSED) break;
      const hostOffset = hostOffsetOfHalves(high, low);
      let kind: ClusterMapping['kind'];
      if (low & LOW_ZERO) kind = 'zero';
      else if (hostOffset !== 0 || (hasDataFile && high & HIGH_COPIED)) kind = 'data';
      else kind = 'unallocated';
      if (kind !== first.kind) break;
      const expected = first.hostOffset === undefined ? undefined : first.hostOffset + (count + 1) * clusterSize;
      const actual = kind === 'data' || hostOffset !== 0 ? hostOffset : undefined;
      if (actual !== expected) break;
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
