import type { BlockNode } from '@tessera/core';
import { TableCache } from '../cache/table-cache.ts';
import { corrupt } from '../errors.ts';
import type { Qcow2Header } from '../header/header.ts';
import { L2_CACHE_BYTES } from '../limits.ts';
import { decodeL2Entry, l2TableOffset, type ClusterMapping } from './l2-entry.ts';

export type Extent = ClusterMapping & {
  /** Bytes from the queried guest offset that map this way (within one cluster or subcluster). */
  readonly length: number;
  /** For data: where the queried offset itself lies in the data file. */
  readonly hostPosition?: number;
};

/** Guest offsets to host locations through the L1 and L2 tables. */
export class ClusterMap {
  private readonly l2Cache = new TableCache(L2_CACHE_BYTES);
  private readonly entrySize: number;
  private readonly l2Entries: number;
  private readonly unitSize: number; // a cluster, or a subcluster with extended L2

  constructor(
    private readonly header: Qcow2Header,
    /** The active L1 table (the writer updates it in place). */
    readonly l1: BigUint64Array,
    private readonly file: BlockNode,
  ) {
    this.entrySize = header.extendedL2 ? 16 : 8;
    this.l2Entries = header.clusterSize / this.entrySize;
    this.unitSize = header.extendedL2 ? header.clusterSize / 32 : header.clusterSize;
  }

  /** How the guest byte at `offset` is stored, and for how many bytes (at most `maxLength`) that holds. */
  async lookup(offset: number, maxLength: number): Promise<Extent> {
    const { clusterSize, clusterBits } = this.header;
    const clusterIndex = Math.floor(offset / clusterSize);
    const inCluster = offset - clusterIndex * clusterSize;
    const unitEnd = (Math.floor(inCluster / this.unitSize) + 1) * this.unitSize;
    const length = Math.min(maxLength, unitEnd - inCluster);
    const l1Index = Math.floor(clusterIndex / this.l2Entries);
    const l1Entry = this.l1[l1Index] ?? 0n;
    const l2Offset = l2TableOffset(l1Entry);
    if (l2Offset === 0) return { kind: 'unallocated', length: Math.min(maxLength, clusterSize - inCluster) };
    const table = await this.l2Table(l2Offset);
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const at = (clusterIndex % this.l2Entries) * this.entrySize;
    const entry = view.getBigUint64(at);
    const mapping = decodeL2Entry(
      entry,
      clusterBits,
      this.header.extensions.dataFile !== undefined,
      this.header.extendedL2 ? { bitmap: view.getBigUint64(at + 8), subcluster: Math.floor(inCluster / this.unitSize) } : undefined,
    );
    if (mapping.kind !== 'compressed' && mapping.hostOffset !== undefined) {
      if (mapping.hostOffset! % clusterSize !== 0) {
        throw corrupt(this.file.filename, `data cluster offset ${mapping.hostOffset} is not cluster aligned`);
      }
      return { ...mapping, length, hostPosition: mapping.hostOffset! + inCluster };
    }
    if (mapping.kind === 'compressed') return { ...mapping, length: Math.min(maxLength, clusterSize - inCluster) };
    return { ...mapping, length };
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

  private async readTable(offset: number): Promise<Uint8Array> {
    const size = this.header.clusterSize;
    if (offset + size > this.file.size) throw corrupt(this.file.filename, `L2 table at ${offset} lies beyond the end of the file`);
    const table = new Uint8Array(size);
    await this.file.read(offset, table);
    return table;
  }
}
