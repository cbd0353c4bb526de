// The refcount table and blocks of an image opened for writing: cluster allocation (appending
// after the last used cluster), new refcount blocks on demand (each placed inside the range it
// describes, so it counts itself) and growing the refcount table.
//
// Order on disk, so a crash leaves at most leaks: a new refcount block is written before the
// table entry that points to it; refcounts are raised (and synced) before the caller writes any
// reference to the clusters; a grown table is complete before the header points to it, and the
// old table is released only afterwards.
import type { BlockNode } from '@tessera/core';
import { corrupt } from '../errors.ts';
import { MAX_REFCOUNT_TABLE_BYTES } from '../limits.ts';
import { entriesPerBlock, getRefcount, setRefcount } from './entries.ts';

const OFFSET_MASK = 0x00fffffffffffe00n;

export interface RefcountsOptions {
  readonly clusterSize: number;
  readonly refcountOrder: number;
  readonly tableOffset: number;
  readonly tableClusters: number;
  /** Make what was written so far durable before what follows (a flush, or nothing for lazy refcounts). */
  readonly sync: () => Promise<void>;
  /** Point the header at a new refcount table. */
  readonly moveTable: (offset: number, clusters: number) => Promise<void>;
}

export class Refcounts {
  private table: number[] = [];
  private tableOffset: number;
  private tableClusters: number;
  private readonly blocks = new Map<number, Uint8Array>();
  private readonly perBlock: number;
  private readonly clusterSize: number;
  private readonly order: number;
  /** The first cluster the next allocation may use. */
  private freeHint: number;

  private constructor(
    private readonly file: BlockNode,
    private readonly options: RefcountsOptions,
  ) {
    this.clusterSize = options.clusterSize;
    this.order = options.refcountOrder;
    this.perBlock = entriesPerBlock(this.clusterSize, this.order);
    this.tableOffset = options.tableOffset;
    this.tableClusters = options.tableClusters;
    this.freeHint = Math.ceil(file.size / this.clusterSize);
  }

  static async load(file: BlockNode, options: RefcountsOptions): Promise<Refcounts> {
    const refcounts = new Refcounts(file, options);
    const bytes = new Uint8Array(options.tableClusters * options.clusterSize);
    await file.read(options.tableOffset, bytes);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < bytes.length / 8; i++) {
      const offset = Number(view.getBigUint64(i * 8) & OFFSET_MASK);
      if (offset % options.clusterSize !== 0) throw corrupt(file.filename, `refcount block offset ${offset} is not cluster aligned`);
      refcounts.table.push(offset);
    }
    return refcounts;
  }

  private get capacity(): number {
    return (this.tableClusters * this.clusterSize) / 8;
  }

  private async block(tableIndex: number): Promise<Uint8Array | undefined> {
    const offset = this.table[tableIndex] ?? 0;
    if (offset === 0) return undefined;
    let block = this.blocks.get(offset);
    if (!block) {
      block = new Uint8Array(this.clusterSize);
      const available = Math.max(0, Math.min(block.length, this.file.size - offset));
      if (available > 0) await this.file.read(offset, block.subarray(0, available));
      this.blocks.set(offset, block);
    }
    return block;
  }

  /** The refcount of the cluster with this index (0 where no refcount block covers it). */
  async get(cluster: number): Promise<bigint> {
    const block = await this.block(Math.floor(cluster / this.perBlock));
    return block ? getRefcount(block, cluster % this.perBlock, this.order) : 0n;
  }

  /**
   * `count` free clusters (the first ones from the end of the used space, in order, not always
   * contiguous: refcount blocks take their place among them), their refcounts set to 1 and synced;
   * returns their host offsets.
   */
  async allocate(count: number): Promise<number[]> {
    for (;;) {
      const clusters: number[] = [];
      for (let cluster = this.freeHint; clusters.length < count; cluster++) {
        if ((await this.get(cluster)) === 0n) clusters.push(cluster);
      }
      const missing = clusters.map((cluster) => Math.floor(cluster / this.perBlock)).find((t) => !this.table[t]);
      if (missing !== undefined) {
        // A new block (or a larger table) may take one of these clusters: look again after.
        await this.createBlock(missing);
        continue;
      }
      await this.change(clusters, 1n);
      await this.options.sync();
      this.freeHint = clusters.at(-1)! + 1;
      return clusters.map((cluster) => cluster * this.clusterSize);
    }
  }

  /** Host offsets of the refcount table's clusters and of the refcount blocks. */
  metadata(): number[] {
    const offsets: number[] = [];
    for (let i = 0; i < this.tableClusters; i++) offsets.push(this.tableOffset + i * this.clusterSize);
    for (const offset of this.table) if (offset) offsets.push(offset);
    return offsets;
  }

  /** Set refcounts outright (repair); every cluster must be covered by a refcount block already. */
  async set(values: ReadonlyMap<number, bigint>): Promise<void> {
    const dirty = new Map<number, [number, number]>();
    for (const [cluster, value] of values) {
      const t = Math.floor(cluster / this.perBlock);
      const block = await this.block(t);
      if (!block) throw corrupt(this.file.filename, `cluster ${cluster} is in use but has no refcount block (repair it with qemu-img check -r all)`);
      const [from, to] = setRefcount(block, cluster % this.perBlock, this.order, value);
      const span = dirty.get(t);
      dirty.set(t, span ? [Math.min(span[0], from), Math.max(span[1], to)] : [from, to]);
    }
    for (const [t, [from, to]] of dirty) await this.file.write(this.table[t]! + from, (await this.block(t))!.subarray(from, to));
  }

  /** Drop one reference from each of `count` clusters from `cluster` on (freed clusters are not reused). */
  async release(cluster: number, count: number): Promise<void> {
    await this.change(Array.from({ length: count }, (_, i) => cluster + i), -1n);
  }

  /** Add `delta` to the refcount of each cluster (a cluster listed twice changes twice); written, not synced. */
  async change(clusters: readonly number[], delta: bigint): Promise<void> {
    const max = (1n << (1n << BigInt(this.order))) - 1n;
    const dirty = new Map<number, [number, number]>();
    for (const cluster of clusters) {
      const t = Math.floor(cluster / this.perBlock);
      const block = await this.block(t);
      if (!block) throw corrupt(this.file.filename, `cluster ${cluster} has no refcount block`);
      const index = cluster % this.perBlock;
      const value = getRefcount(block, index, this.order) + delta;
      if (value < 0n || value > max) throw corrupt(this.file.filename, `refcount of cluster ${cluster} would be ${value}`);
      const [from, to] = setRefcount(block, index, this.order, value);
      const span = dirty.get(t);
      dirty.set(t, span ? [Math.min(span[0], from), Math.max(span[1], to)] : [from, to]);
    }
    for (const [t, [from, to]] of dirty) {
      const block = (await this.block(t))!;
      await this.file.write(this.table[t]! + from, block.subarray(from, to));
    }
  }

  /** A refcount block for range `t`, inside that range (all of whose clusters are free). */
  private async createBlock(t: number): Promise<void> {
    if (t >= this.capacity) return this.growTable(t);
    const rangeStart = t * this.perBlock;
    const at = this.freeHint >= rangeStart && this.freeHint < rangeStart + this.perBlock ? this.freeHint : rangeStart;
    const block = new Uint8Array(this.clusterSize);
    setRefcount(block, at - rangeStart, this.order, 1n);
    const offset = at * this.clusterSize;
    await this.file.write(offset, block);
    await this.options.sync();
    this.blocks.set(offset, block);
    this.table[t] = offset;
    const entry = new Uint8Array(8);
    new DataView(entry.buffer).setBigUint64(0, BigInt(offset));
    await this.file.write(this.tableOffset + t * 8, entry);
    await this.options.sync();
  }

  /**
   * A larger refcount table, at the start of range `t` (beyond the old table's reach, so all free),
   * preceded by the refcount blocks that count it and themselves.
   */
  private async growTable(t: number): Promise<void> {
    const start = t * this.perBlock;
    let blocks = 1;
    let clusters = 0;
    for (;;) {
      const entries = Math.max(t + blocks, this.capacity * 2);
      clusters = Math.ceil((entries * 8) / this.clusterSize);
      const needed = Math.ceil((blocks + clusters) / this.perBlock);
      if (needed <= blocks) break;
      blocks = needed;
    }
    if (clusters * this.clusterSize > MAX_REFCOUNT_TABLE_BYTES) throw new Error(`${this.file.filename}: the refcount table would be too large`);
    const used = blocks + clusters;
    const newBlocks: Uint8Array[] = [];
    for (let b = 0; b < blocks; b++) {
      const block = new Uint8Array(this.clusterSize);
      for (let i = 0; i < this.perBlock && b * this.perBlock + i < used; i++) setRefcount(block, i, this.order, 1n);
      newBlocks.push(block);
    }
    const table = new Uint8Array(clusters * this.clusterSize);
    const view = new DataView(table.buffer);
    const newTable = [...this.table];
    for (let b = 0; b < blocks; b++) newTable[t + b] = (start + b) * this.clusterSize;
    newTable.forEach((offset, i) => view.setBigUint64(i * 8, BigInt(offset ?? 0)));
    for (let b = 0; b < blocks; b++) await this.file.write((start + b) * this.clusterSize, newBlocks[b]!);
    const tableOffset = (start + blocks) * this.clusterSize;
    await this.file.write(tableOffset, table);
    await this.options.sync();
    await this.options.moveTable(tableOffset, clusters);
    const [oldOffset, oldClusters] = [this.tableOffset, this.tableClusters];
    this.table = newTable.map((offset) => offset ?? 0);
    for (let b = 0; b < blocks; b++) this.blocks.set((start + b) * this.clusterSize, newBlocks[b]!);
    this.tableOffset = tableOffset;
    this.tableClusters = clusters;
    await this.release(oldOffset / this.clusterSize, oldClusters);
  }
}
