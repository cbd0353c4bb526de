// The two-level table walk: guest cluster → L1 entry → L2 table → data cluster, with every offset
// checked against the file before it is followed, and a bounded cache of L2 tables.
import type { BlockNode } from '@tessera/core';
import { codedError } from '@tessera/module-kit/coded-error';
import { UNALLOCATED, ZERO_CLUSTER, clusterOffsetValid, decodeTable, tableBytes, tableFits, type QedHeader } from './layout.ts';

const CACHED_TABLES = 32;

export type ClusterState = { readonly kind: 'unallocated' } | { readonly kind: 'zero' } | { readonly kind: 'data'; readonly host: number };

export class Tables {
  readonly entriesPerTable: number;
  private readonly cache = new Map<number, Float64Array>();

  constructor(
    private readonly file: BlockNode,
    readonly header: QedHeader,
    readonly l1: Float64Array,
  ) {
    this.entriesPerTable = tableBytes(header) / 8;
  }

  static async load(file: BlockNode, header: QedHeader): Promise<Tables> {
    const bytes = new Uint8Array(tableBytes(header));
    await file.read(header.l1TableOffset, bytes);
    return new Tables(file, header, decodeTable(bytes));
  }

  /** The L2 table an L1 entry points to (checked, cached), or undefined for none. */
  async l2(l1Index: number): Promise<Float64Array | undefined> {
    const offset = this.l1[l1Index]!;
    if (offset === UNALLOCATED) return undefined;
    const cached = this.cache.get(offset);
    if (cached) return cached;
    if (!tableFits(this.header, offset, this.file.size)) {
      throw codedError(`QED image is corrupt: L2 table offset ${offset} (L1 entry ${l1Index}) is invalid`, 'corrupt-image');
    }
    const bytes = new Uint8Array(tableBytes(this.header));
    await this.file.read(offset, bytes);
    const table = decodeTable(bytes);
    this.remember(offset, table);
    return table;
  }

  remember(offset: number, table: Float64Array): void {
    if (this.cache.size >= CACHED_TABLES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(offset, table);
  }

  forget(offset: number): void {
    this.cache.delete(offset);
  }

  async state(cluster: number): Promise<ClusterState> {
    const l1Index = Math.floor(cluster / this.entriesPerTable);
    const table = await this.l2(l1Index);
    if (!table) return { kind: 'unallocated' };
    const entry = table[cluster % this.entriesPerTable]!;
    if (entry === UNALLOCATED) return { kind: 'unallocated' };
    if (entry === ZERO_CLUSTER) return { kind: 'zero' };
    if (!clusterOffsetValid(this.header, entry, this.file.size)) {
      throw codedError(`QED image is corrupt: cluster ${cluster} maps to invalid offset ${entry}`, 'corrupt-image');
    }
    return { kind: 'data', host: entry };
  }
}
