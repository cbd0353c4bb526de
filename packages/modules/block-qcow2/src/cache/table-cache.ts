/**
 * A least-recently-used cache of metadata tables by file offset, bounded in bytes. Tables changed
 * in memory may be marked dirty (write-back, as under cache=unsafe): a dirty table is stored
 * before it leaves the cache, and all of them by writeBack().
 */
export class TableCache {
  private readonly tables = new Map<number, Uint8Array>();
  private readonly dirty = new Set<number>();
  /** Tables that must stay (a write under way will change them): counts by offset. */
  private readonly pinned = new Map<number, number>();
  /** Reads of tables under way, by offset. */
  private readonly loading = new Map<number, Promise<Uint8Array>>();
  private bytes = 0;

  constructor(
    private readonly budget: number,
    /** Writes a table to its place in the file (for dirty tables). */
    private readonly store: (offset: number, table: Uint8Array) => Promise<void>,
  ) {}

  /** A table just written at `offset` (a cluster reused for a new table must not show its old one). */
  set(offset: number, table: Uint8Array): void {
    const old = this.tables.get(offset);
    if (old) {
      this.tables.delete(offset);
      this.bytes -= old.length;
    }
    this.dirty.delete(offset);
    this.tables.set(offset, table);
    this.bytes += table.length;
  }

  /**
   * `table` (the one at `offset`, changed in memory) is to be written later. It becomes the cached
   * one again if it was evicted meanwhile, so no older copy from the file can shadow it.
   */
  markDirty(offset: number, table: Uint8Array): void {
    if (this.tables.get(offset) !== table) this.set(offset, table);
    this.dirty.add(offset);
  }

  /** Keep the table at `offset` cached until as many unpin calls. */
  pin(offset: number): void {
    this.pinned.set(offset, (this.pinned.get(offset) ?? 0) + 1);
  }

  unpin(offset: number): void {
    const count = (this.pinned.get(offset) ?? 1) - 1;
    if (count > 0) this.pinned.set(offset, count);
    else this.pinned.delete(offset);
  }

  get hasDirty(): boolean {
    return this.dirty.size > 0;
  }

  /** Store every dirty table, in file order. */
  async writeBack(): Promise<void> {
    for (const offset of [...this.dirty].sort((a, b) => a - b)) {
      const table = this.tables.get(offset)!;
      this.dirty.delete(offset);
      await this.store(offset, table);
    }
  }

  /** The table at `offset` when it is cached (a use, for recency), without waiting: lookups' fast path. */
  peek(offset: number): Uint8Array | undefined {
    const hit = this.tables.get(offset);
    if (hit) {
      this.tables.delete(offset); // re-insert: Map order is our recency order
      this.tables.set(offset, hit);
    }
    return hit;
  }

  async get(offset: number, load: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const hit = this.peek(offset);
    if (hit) return hit;
    // Callers that miss on the same table together share one read (the copy's workers all start
    // on the first L2 table at once).
    let loading = this.loading.get(offset);
    if (!loading) {
      loading = this.load(offset, load);
      this.loading.set(offset, loading);
      const settled = () => this.loading.delete(offset);
      loading.then(settled, settled);
    }
    return loading;
  }

  private async load(offset: number, load: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const table = await load();
    const raced = this.tables.get(offset);
    if (raced) return raced; // set meanwhile (a table written there): keep that one
    this.tables.set(offset, table);
    this.bytes += table.length;
    await this.evict(offset);
    return table;
  }

  /** Drop the least recently used tables (storing dirty ones first) until within budget. */
  private async evict(keep: number): Promise<void> {
    for (const [key, old] of this.tables) {
      if (this.bytes <= this.budget) break;
      if (key === keep || this.pinned.has(key)) continue;
      if (this.dirty.has(key)) {
        // Still cached while it is stored, so nobody reads the file's older copy meanwhile.
        this.dirty.delete(key);
        await this.store(key, old);
        if (this.tables.get(key) !== old || this.dirty.has(key)) continue; // replaced or changed again
      }
      this.tables.delete(key);
      this.bytes -= old.length;
    }
  }
}
