// The refcounts the image records, read without write access: the refcount table once (its
// size is bounded by the header's checks) and refcount blocks on demand, a few kept.
import type { BlockNode } from '@tessera/core';
import type { Qcow2Header } from '../header/header.ts';
import { readHost } from '../host-read.ts';
import { entriesPerBlock, getRefcount } from '../refcount/entries.ts';
import { refcountBlockOffsetOf } from '../layout.ts';

const CACHED_BLOCKS = 32;

/** A refcount block that cannot be read (the table entry is not cluster aligned). */
export class UnreadableRefcount extends Error {}

export class StoredRefcounts {
  private readonly blocks = new Map<number, Uint8Array>();
  private readonly perBlock: number;

  private constructor(
    private readonly file: BlockNode,
    private readonly header: Qcow2Header,
    /** The refcount table's raw entries. */
    readonly table: BigUint64Array,
  ) {
    this.perBlock = entriesPerBlock(header.clusterSize, header.refcountOrder);
  }

  static async read(file: BlockNode, header: Qcow2Header): Promise<StoredRefcounts> {
    const bytes = new Uint8Array(header.refcountTableClusters * header.clusterSize);
    await readHost(file, header.refcountTableOffset, bytes);
    const view = new DataView(bytes.buffer);
    const table = new BigUint64Array(bytes.length / 8);
    for (let i = 0; i < table.length; i++) table[i] = view.getBigUint64(i * 8);
    return new StoredRefcounts(file, header, table);
  }

  /** The stored refcount of a cluster: 0 where the table or a block does not cover it. */
  async get(cluster: number): Promise<bigint> {
    const block = await this.block(Math.floor(cluster / this.perBlock));
    return block ? getRefcount(block, cluster % this.perBlock, this.header.refcountOrder) : 0n;
  }

  /** Clusters one refcount block covers. */
  get clustersPerBlock(): number {
    return this.perBlock;
  }

  /** Refcount block `t` (undefined where none is allocated, so all its refcounts are 0). */
  async block(t: number): Promise<Uint8Array | undefined> {
    if (t >= this.table.length) return undefined;
    const offset = refcountBlockOffsetOf(this.table[t]!);
    if (offset === 0) return undefined;
    if (offset % this.header.clusterSize !== 0) throw new UnreadableRefcount('Input/output error');
    let block = this.blocks.get(offset);
    if (!block) {
      block = new Uint8Array(this.header.clusterSize);
      await readHost(this.file, offset, block);
      if (this.blocks.size >= CACHED_BLOCKS) this.blocks.delete(this.blocks.keys().next().value!);
      this.blocks.set(offset, block);
    }
    return block;
  }
}
