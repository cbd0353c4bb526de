/** A least-recently-used cache of metadata tables by file offset, bounded in bytes. */
export class TableCache {
  private readonly tables = new Map<number, Uint8Array>();
  private bytes = 0;

  constructor(private readonly budget: number) {}

  /** A table just written at `offset` (a cluster reused for a new table must not show its old one). */
  set(offset: number, table: Uint8Array): void {
    const old = this.tables.get(offset);
    if (old) {
      this.tables.delete(offset);
      this.bytes -= old.length;
    }
    this.tables.set(offset, table);
    this.bytes += table.length;
  }

  async get(offset: number, load: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const hit = this.tables.get(offset);
    if (hit) {
      this.tables.delete(offset); // re-insert: Map order is our recency order
      this.tables.set(offset, hit);
      return hit;
    }
    const table = await load();
    this.tables.set(offset, table);
    this.bytes += table.length;
    for (const [key, old] of this.tables) {
      if (this.bytes <= this.budget || key === offset) break;
      this.tables.delete(key);
      this.bytes -= old.length;
    }
    return table;
  }
}
