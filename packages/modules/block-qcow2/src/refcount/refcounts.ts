// The refcount table and blocks of an image opened for writing: cluster allocation (the lowest
// free clusters first, as QEMU allocates: holes left by freed clusters are reused before the file
// grows), new refcount blocks on demand (each placed inside the range it describes, so it counts
// itself) and growing the refcount table.
//
// Order on disk, so a crash leaves at most leaks: a new refcount block is written before the
// table entry that points to it; refcounts are raised (and synced) before the caller writes any
// reference to the clusters; what was written before a refcount is lowered is synced first (the
// caller removes the reference before it releases the cluster); a grown table is complete before
// the header points to it, and the old table is released only afterwards.
//
// Reuse: a cluster freed since the last real flush is handed out again only after a real flush
// (even with lazy refcounts, whose sync does nothing), so the metadata that dropped its last
// reference is on disk before new data can land in it.
import type { BlockNode } from '@tessera/core';
import { corrupt } from '../errors.ts';
import { MAX_REFCOUNT_TABLE_BYTES } from '../limits.ts';
import { MAX_CLUSTER_OFFSET, entryBytes, refcountBlockOffset, tableClusters } from '../layout.ts';
import type { MetadataStructure } from '../overlap/guard.ts';
import { NARROWEST_WIDE_ORDER, entriesPerBlock, getRefcount, maxRefcount, refcountAt, refcountBytes, setRefcount, writeRefcount } from './entries.ts';

export interface RefcountsOptions {
  readonly clusterSize: number;
  readonly refcountOrder: number;
  readonly tableOffset: number;
  readonly tableClusters: number;
  /** Make what was written so far durable before what follows (a flush, or nothing for lazy refcounts). */
  readonly sync: () => Promise<void>;
  /** Point the header at a new refcount table. */
  readonly moveTable: (offset: number, clusters: number) => Promise<void>;
  /**
   * Refcount changes stay in memory until writeBack() (qemu's metadata cache under cache=unsafe),
   * instead of being written at once. New blocks and tables are still written when made.
   */
  readonly deferWrites?: boolean;
  /**
   * With deferWrites: write the deferred L2 tables, before a refcount is lowered (the reference
   * being dropped is removed on disk first, as QEMU's refcount cache then depends on its L2 cache).
   */
  readonly writeBackReferences?: () => Promise<void>;
  /** A new refcount block or table was made (the overlap guard indexes it). */
  readonly onNewStructure?: (offset: number, clusters: number, kind: 'refcount block' | 'refcount table') => void;
  /**
   * Refuses a write that would land on metadata other than `own`, the structure it rewrites (a
   * refcount block, the refcount table); without `own`, a new structure that may land on none.
   */
  readonly guardWrite?: (offset: number, length: number, own?: MetadataStructure) => Promise<void>;
}

export class Refcounts {
  private table: number[] = [];
  private tableOffset: number;
  private tableClusters: number;
  private readonly blocks = new Map<number, Uint8Array>();
  private readonly perBlock: number;
  private readonly clusterSize: number;
  private readonly order: number;
  /**
   * Clusters below this are in use or holes; from here on they are free unless their refcount
   * says otherwise (a new refcount block or table may sit beyond it). Starts after the last
   * cluster in use (findEnd), not at the file's end: a sparse file may be far larger than what
   * its metadata uses, and the holes are tracked one by one.
   */
  private end: number;
  /** Free clusters below `end`, known once the first allocation has scanned for them. */
  private holes: Set<number> | undefined;
  private sortedHoles: number[] | undefined;
  /** Clusters whose refcount fell to 0 since the last real flush. */
  private readonly pending = new Set<number>();
  /** Deferred changes: byte ranges of refcount blocks (by table index) not written yet. */
  private readonly deferred = new Map<number, [number, number]>();

  private constructor(
    private readonly file: BlockNode,
    private readonly options: RefcountsOptions,
  ) {
    this.clusterSize = options.clusterSize;
    this.order = options.refcountOrder;
    this.perBlock = entriesPerBlock(this.clusterSize, this.order);
    this.tableOffset = options.tableOffset;
    this.tableClusters = options.tableClusters;
    this.end = Math.ceil(file.size / this.clusterSize);
  }

  static async load(file: BlockNode, options: RefcountsOptions): Promise<Refcounts> {
    const refcounts = new Refcounts(file, options);
    const bytes = new Uint8Array(options.tableClusters * options.clusterSize);
    await file.read(options.tableOffset, bytes);
    const view = new DataView(bytes.buffer);
    // In two 32-bit halves, not as BigInt: every open reads the whole table (8192 entries per
    // 64 KiB), and a BigInt per entry made this loop one that V8 compiled at every start.
    for (let i = 0; i < bytes.length / 8; i++) {
      const offset = refcountBlockOffset(view.getUint32(i * 8), view.getUint32(i * 8 + 4));
      // (Bits 56–63 are part of the offset, as check and QEMU read them: never silently dropped.)
      if (offset > MAX_CLUSTER_OFFSET) throw corrupt(file.filename, `refcount block offset 0x${offset.toString(16)} is invalid (repair it with qemu-img check -r all)`);
      if (offset % options.clusterSize !== 0) throw corrupt(file.filename, `refcount block offset ${offset} is not cluster aligned`);
      refcounts.table.push(offset);
    }
    await refcounts.findEnd();
    return refcounts;
  }

  /** One past the last cluster in use (by the stored refcounts, within the file). */
  get usedEnd(): number {
    return this.end;
  }

  /**
   * Set `end` after the last cluster with a refcount, within the file: the blocks from the last
   * one backwards (in a sane image the last block holds it), blocks past the file's end skipped
   * (they would read as zeroes).
   */
  private async findEnd(): Promise<void> {
    const fileEnd = this.end;
    for (let t = Math.min(this.table.length, Math.ceil(fileEnd / this.perBlock)) - 1; t >= 0; t--) {
      const offset = this.table[t]!;
      if (offset === 0 || offset >= this.file.size) continue;
      const block = (await this.block(t))!;
      for (let i = Math.min(this.perBlock, fileEnd - t * this.perBlock) - 1; i >= 0; i--) {
        if (getRefcount(block, i, this.order) !== 0n) {
          this.end = t * this.perBlock + i + 1;
          return;
        }
      }
    }
    this.end = 0;
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

  /** The refcount block of range `t`: from memory without a turn of the event loop when loaded. */
  private blockFor(t: number): Uint8Array | undefined | Promise<Uint8Array | undefined> {
    return this.blocks.get(this.table[t] ?? 0) ?? this.block(t);
  }

  /** The refcount of the cluster with this index (0 where no refcount block covers it). */
  async get(cluster: number): Promise<bigint> {
    const block = await this.blockFor(Math.floor(cluster / this.perBlock));
    return block ? getRefcount(block, cluster % this.perBlock, this.order) : 0n;
  }

  /**
   * `count` free clusters, their refcounts set to 1 and synced; returns their host offsets. The
   * lowest run of `count` adjacent free clusters below the end of the used space, or else the
   * first free ones from there on (in order, not always contiguous: refcount blocks may take
   * their place among them).
   */
  async allocate(count: number): Promise<number[]> {
    await this.findHoles();
    for (;;) {
      const run = this.holeRun(count);
      const clusters = run ?? (await this.fromEnd(count));
      const missing = clusters.find((cluster) => !this.table[Math.floor(cluster / this.perBlock)]);
      if (missing !== undefined) {
        // A new block (or a larger table) may take one of these clusters: look again after.
        await this.createBlock(Math.floor(missing / this.perBlock), missing);
        continue;
      }
      await this.claim(clusters);
      // Everything from `end` to the last of these is in use now (what was skipped already was).
      if (!run) this.end = clusters.at(-1)! + 1;
      return clusters.map((cluster) => cluster * this.clusterSize);
    }
  }

  /**
   * `count` adjacent clusters (a table must be contiguous), refcounts 1 and synced; returns the
   * first one's host offset. The lowest run of holes whose ranges have refcount blocks, or else a
   * run after everything in use, whatever its length: the new refcount blocks its ranges need go
   * right before it (allocate() puts a new block inside its range, which would split a run longer
   * than a range), counted by the first of them or by the block already there.
   */
  async allocateRun(count: number): Promise<number> {
    await this.findHoles();
    const run = this.holeRun(count);
    if (run && run.every((cluster) => this.table[Math.floor(cluster / this.perBlock)])) {
      await this.claim(run);
      return run[0]! * this.clusterSize;
    }
    for (;;) {
      // Everything from `top` on is free: past the end and past any block or table put there.
      const metadata = new Set(this.metadata().map((offset) => offset / this.clusterSize));
      let top = this.end;
      for (const cluster of metadata) top = Math.max(top, cluster + 1);
      // The ranges [top, top + blocks + count) touches that have no block, one new block for each.
      let blocks = 0;
      let missing: number[] = [];
      for (;;) {
        missing = [];
        for (let t = Math.floor(top / this.perBlock); t <= Math.floor((top + blocks + count - 1) / this.perBlock); t++) if (!this.table[t]) missing.push(t);
        if (missing.length === blocks) break;
        blocks = missing.length;
      }
      const beyond = missing.find((t) => t >= this.capacity);
      if (beyond !== undefined) {
        await this.growTable(beyond); // the grown table lies after `top`: look again
        continue;
      }
      const clusters = Array.from({ length: blocks + count }, (_, i) => top + i);
      // Raised first where blocks exist already (a crash leaves leaks), then the new blocks, which
      // count the rest, then the table entries that make them count.
      await this.change(clusters.filter((cluster) => this.table[Math.floor(cluster / this.perBlock)]), 1n);
      const newBlocks = missing.map((t, i) => {
        const block = new Uint8Array(this.clusterSize);
        for (const cluster of clusters) if (Math.floor(cluster / this.perBlock) === t) setRefcount(block, cluster % this.perBlock, this.order, 1n);
        return { t, offset: (top + i) * this.clusterSize, block };
      });
      for (const { offset, block } of newBlocks) await this.write(offset, block);
      await this.options.sync();
      for (const { t, offset, block } of newBlocks) {
        this.blocks.set(offset, block);
        await this.setTableEntry(t, offset);
      }
      // Counted by the new blocks directly, not through change(): no longer free (a block dropped
      // by a shrink may have left one of them among the holes).
      for (const cluster of clusters) if (missing.includes(Math.floor(cluster / this.perBlock))) this.noteUse(cluster, false, true);
      if (clusters.some((cluster) => this.pending.has(cluster))) await this.flush();
      else await this.options.sync();
      // Free clusters skipped between the end and the run are holes from now on.
      for (let cluster = this.end; cluster < top; cluster++) if (!metadata.has(cluster)) this.holes?.add(cluster);
      this.sortedHoles = undefined;
      this.end = Math.max(this.end, top + blocks + count);
      return (top + blocks) * this.clusterSize;
    }
  }

  /** Clusters known free and covered by blocks: refcounts 1, synced (a real flush if one was freed since the last). */
  private async claim(clusters: readonly number[]): Promise<void> {
    const reused = clusters.some((cluster) => this.pending.has(cluster));
    await this.change(clusters, 1n);
    if (reused) await this.flush();
    else await this.options.sync();
  }

  /** A real flush: freed clusters become safe to reuse. */
  private async flush(): Promise<void> {
    await this.file.flush();
    this.pending.clear();
  }

  /** The first `count` clusters with refcount 0 from `end` on. */
  private async fromEnd(count: number): Promise<number[]> {
    const clusters: number[] = [];
    for (let cluster = this.end; clusters.length < count; ) {
      const t = Math.floor(cluster / this.perBlock);
      if (this.unloaded(t)) await this.block(t);
      cluster = this.freeInBlock(cluster, count, clusters);
    }
    return clusters;
  }

  /**
   * Free clusters from `cluster` to the end of its refcount block's range (a loaded block, or
   * none), appended to `out` until it holds `count`; returns where the scan stopped.
   */
  private freeInBlock(cluster: number, count: number, out: number[]): number {
    const t = Math.floor(cluster / this.perBlock);
    const block = this.blocks.get(this.table[t] ?? 0);
    const end = (t + 1) * this.perBlock;
    const narrow = this.order < NARROWEST_WIDE_ORDER;
    for (; cluster < end && out.length < count; cluster++) {
      const index = cluster % this.perBlock;
      if (!block || (narrow ? refcountAt(block, index, this.order) === 0 : getRefcount(block, index, this.order) === 0n)) out.push(cluster);
    }
    return cluster;
  }

  /** The lowest run of `count` adjacent holes, if there is one (holes found on first use). */
  private holeRun(count: number): number[] | undefined {
    if (!this.holes) return undefined;
    this.sortedHoles ??= [...this.holes].sort((a, b) => a - b);
    const holes = this.sortedHoles;
    let start = 0;
    for (let i = 0; i < holes.length; i++) {
      if (i > start && holes[i] !== holes[i - 1]! + 1) start = i;
      if (i - start + 1 === count) return holes.slice(start, i + 1);
    }
    return undefined;
  }

  /** Every free cluster below `end`: read once, then kept current by every refcount change. */
  private async findHoles(): Promise<void> {
    if (this.holes) return;
    const holes = new Set<number>();
    // Block by block: one await per block, not per cluster.
    for (let first = 0; first < this.end; first += this.perBlock) {
      const block = await this.block(first / this.perBlock);
      const last = Math.min(this.end, first + this.perBlock);
      for (let cluster = first; cluster < last; cluster++) {
        if (!block || getRefcount(block, cluster - first, this.order) === 0n) holes.add(cluster);
      }
    }
    this.holes = holes;
  }

  /** Keep the holes current after a cluster's refcount went from `before` to `after`. */
  private noteChange(cluster: number, before: bigint, after: bigint): void {
    this.noteUse(cluster, before !== 0n, after !== 0n);
  }

  /** noteChange, told only whether the cluster was in use before and is after. */
  private noteUse(cluster: number, before: boolean, after: boolean): void {
    if (!after && before) {
      this.pending.add(cluster);
      this.holes?.add(cluster);
      this.sortedHoles = undefined;
    } else if (!before && after && this.holes?.delete(cluster)) {
      this.sortedHoles = undefined;
    }
  }

  /** Host offsets of the refcount table's clusters and of the refcount blocks. */
  metadata(): number[] {
    const offsets: number[] = [];
    for (let i = 0; i < this.tableClusters; i++) offsets.push(this.tableOffset + i * this.clusterSize);
    for (const offset of this.table) if (offset) offsets.push(offset);
    return offsets;
  }

  /** The refcount table's place and the blocks' offsets (0 where a range has none). */
  structure(): { tableOffset: number; tableClusters: number; blocks: readonly number[] } {
    return { tableOffset: this.tableOffset, tableClusters: this.tableClusters, blocks: this.table };
  }

  /** Set refcounts outright (repair); every cluster must be covered by a refcount block already. */
  async set(values: ReadonlyMap<number, bigint>): Promise<void> {
    const dirty = new Map<number, [number, number]>();
    for (const [cluster, value] of values) {
      const t = Math.floor(cluster / this.perBlock);
      const block = await this.block(t);
      if (!block) throw corrupt(this.file.filename, `cluster ${cluster} is in use but has no refcount block (repair it with qemu-img check -r all)`);
      const index = cluster % this.perBlock;
      this.noteChange(cluster, getRefcount(block, index, this.order), value);
      const [from, to] = setRefcount(block, index, this.order, value);
      widen(dirty, t, from, to);
    }
    for (const [t, [from, to]] of dirty) await this.write(this.table[t]! + from, (await this.block(t))!.subarray(from, to), this.ownBlock(t));
  }

  /** Drop one reference from each of `count` clusters from `cluster` on (the caller no longer references them). */
  async release(cluster: number, count: number): Promise<void> {
    await this.change(Array.from({ length: count }, (_, i) => cluster + i), -1n);
  }

  /** Add `delta` to the refcount of each cluster (a cluster listed twice changes twice); written, not synced. */
  async change(clusters: readonly number[], delta: bigint): Promise<void> {
    // The reference being dropped was removed by writes issued before: they reach the disk first
    // (deferred ones written now).
    if (delta < 0n) {
      if (this.options.deferWrites) await this.options.writeBackReferences?.();
      await this.options.sync();
    }
    // Blocks loaded first, so the change itself is one synchronous step.
    for (let t = this.unloadedBlock(clusters); t !== -1; t = this.unloadedBlock(clusters)) await this.block(t);
    const dirty = this.changeLoaded(clusters, delta);
    if (this.options.deferWrites) {
      for (const [t, [from, to]] of dirty) widen(this.deferred, t, from, to);
      return;
    }
    for (const [t, [from, to]] of dirty) await this.writeSpan(t, from, to);
  }

  /** A refcount block that covers one of `clusters` and is not in memory yet, or -1. */
  private unloadedBlock(clusters: readonly number[]): number {
    let last = -1; // clusters come in runs: each block looked up once per run
    for (const cluster of clusters) {
      const t = Math.floor(cluster / this.perBlock);
      if (t === last) continue;
      if (this.unloaded(t)) return t;
      last = t;
    }
    return -1;
  }

  /** Range `t` has a refcount block that is not in memory yet. */
  private unloaded(t: number): boolean {
    return Boolean(this.table[t]) && !this.blocks.has(this.table[t]!);
  }

  /** change()'s arithmetic on loaded blocks; returns the changed byte range of each block. */
  private changeLoaded(clusters: readonly number[], delta: bigint): Map<number, [number, number]> {
    const dirty = new Map<number, [number, number]>();
    // Every cluster has a block before any count changes.
    let last = -1;
    for (const cluster of clusters) {
      const t = Math.floor(cluster / this.perBlock);
      if (t === last) continue;
      if (!this.blocks.get(this.table[t] ?? 0)) throw corrupt(this.file.filename, `cluster ${cluster} has no refcount block`);
      last = t;
    }
    if (this.order >= NARROWEST_WIDE_ORDER) {
      const max = maxRefcount(this.order);
      for (const cluster of clusters) {
        const t = Math.floor(cluster / this.perBlock);
        const block = this.blocks.get(this.table[t]!)!;
        const index = cluster % this.perBlock;
        const before = getRefcount(block, index, this.order);
        const value = before + delta;
        if (value < 0n || value > max) throw corrupt(this.file.filename, `refcount of cluster ${cluster} would be ${value}`);
        this.noteChange(cluster, before, value);
        const [from, to] = setRefcount(block, index, this.order, value);
        widen(dirty, t, from, to);
      }
      return dirty;
    }
    // Numbers, and the changed bytes tracked per run of clusters in one block: an allocation
    // changes thousands of adjacent counts, and an object per count kept the collector busy.
    const step = Number(delta);
    const max = 2 ** (1 << this.order) - 1;
    let t = -1;
    let block: Uint8Array | undefined;
    let from = Infinity;
    let to = -Infinity;
    for (const cluster of clusters) {
      const blockIndex = Math.floor(cluster / this.perBlock);
      if (blockIndex !== t) {
        if (block) widen(dirty, t, from, to);
        t = blockIndex;
        block = this.blocks.get(this.table[t]!)!;
        from = Infinity;
        to = -Infinity;
      }
      const index = cluster - t * this.perBlock;
      const before = refcountAt(block!, index, this.order);
      const value = before + step;
      if (value < 0 || value > max) throw corrupt(this.file.filename, `refcount of cluster ${cluster} would be ${value}`);
      this.noteUse(cluster, before !== 0, value !== 0);
      const at = writeRefcount(block!, index, this.order, value);
      from = Math.min(from, at);
      to = Math.max(to, at + refcountBytes(this.order));
    }
    if (block) widen(dirty, t, from, to);
    return dirty;
  }

  private async writeSpan(t: number, from: number, to: number): Promise<void> {
    const block = (await this.block(t))!;
    await this.write(this.table[t]! + from, block.subarray(from, to), this.ownBlock(t));
  }

  /** The refcount block of range `t`, as the structure its writes rewrite. */
  private ownBlock(t: number): MetadataStructure {
    return { kind: 'refcount block', offset: this.table[t]!, length: this.clusterSize };
  }

  /** A write to the file, through the overlap guard (`own`: the structure it rewrites; none for a new one). */
  private async write(offset: number, bytes: Uint8Array, own?: MetadataStructure): Promise<void> {
    await this.options.guardWrite?.(offset, bytes.length, own);
    await this.file.write(offset, bytes);
  }

  get hasDeferredWrites(): boolean {
    return this.deferred.size > 0;
  }

  /** Write the deferred refcount changes. */
  async writeBack(): Promise<void> {
    for (const [t, [from, to]] of [...this.deferred].sort((a, b) => a[0] - b[0])) {
      this.deferred.delete(t);
      await this.writeSpan(t, from, to);
    }
  }

  /**
   * A refcount block for range `t` at cluster `at` inside that range (a free cluster the
   * allocation wanted; with no block for the range, none of its clusters is in use).
   */
  private async createBlock(t: number, at: number): Promise<void> {
    if (t >= this.capacity) return this.growTable(t);
    const rangeStart = t * this.perBlock;
    const block = new Uint8Array(this.clusterSize);
    setRefcount(block, at - rangeStart, this.order, 1n);
    const offset = at * this.clusterSize;
    await this.write(offset, block);
    await this.options.sync();
    this.blocks.set(offset, block);
    this.noteChange(at, 0n, 1n);
    await this.setTableEntry(t, offset);
    await this.options.sync();
  }

  /** Refcount table entry `t` points to the block at `offset`, in memory and in the file (not synced). */
  private async setTableEntry(t: number, offset: number): Promise<void> {
    this.table[t] = offset;
    this.options.onNewStructure?.(offset, 1, 'refcount block');
    await this.write(this.tableOffset + t * 8, entryBytes(BigInt(offset)), { kind: 'refcount table', offset: this.tableOffset, length: this.tableClusters * this.clusterSize });
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
      clusters = tableClusters(entries, this.clusterSize);
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
    for (let b = 0; b < blocks; b++) await this.write((start + b) * this.clusterSize, newBlocks[b]!);
    const tableOffset = (start + blocks) * this.clusterSize;
    await this.write(tableOffset, table);
    await this.options.sync();
    await this.options.moveTable(tableOffset, clusters);
    const [oldOffset, oldClusters] = [this.tableOffset, this.tableClusters];
    this.table = newTable.map((offset) => offset ?? 0);
    for (let b = 0; b < blocks; b++) this.blocks.set((start + b) * this.clusterSize, newBlocks[b]!);
    this.tableOffset = tableOffset;
    this.tableClusters = clusters;
    this.options.onNewStructure?.(start * this.clusterSize, blocks, 'refcount block');
    this.options.onNewStructure?.(tableOffset, clusters, 'refcount table');
    for (let c = start; c < start + used; c++) this.noteChange(c, 0n, 1n);
    await this.release(oldOffset / this.clusterSize, oldClusters);
  }
}

/** Grow the byte range recorded for block `t` to take in `[from, to)`. */
function widen(spans: Map<number, [number, number]>, t: number, from: number, to: number): void {
  const span = spans.get(t);
  if (span) {
    span[0] = Math.min(span[0], from);
    span[1] = Math.max(span[1], to);
  } else {
    spans.set(t, [from, to]);
  }
}
