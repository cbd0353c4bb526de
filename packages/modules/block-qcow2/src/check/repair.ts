// The writes a repair makes, on an image opened for writing. Each one is synced before the
// check goes on, and refcounts are raised before others are lowered, so an interrupted repair
// leaves at most leaks.
import { writeL1Entry, writeL2Entries } from '../cluster/tables.ts';
import { entryBytes, l2EntrySize } from '../layout.ts';
import type { Qcow2State } from '../state.ts';

export class CheckRepairs {
  constructor(private readonly image: Qcow2State) {}

  private get refcounts() {
    const refcounts = this.image.refcounts;
    if (!refcounts) throw this.image.writesRefused ?? new Error(`${this.image.filename}: repairing needs the image opened for writing`);
    return refcounts;
  }

  /** Refcounts set outright: the raised ones first (synced), then the lowered ones. */
  async setRefcounts(raise: ReadonlyMap<number, bigint>, lower: ReadonlyMap<number, bigint>): Promise<void> {
    const refcounts = this.refcounts;
    if (raise.size) {
      await refcounts.set(raise);
      await this.image.child.flush();
    }
    if (lower.size) {
      await refcounts.set(lower);
      await this.image.child.flush();
    }
  }

  /** One L2 entry (and with extended L2 its bitmap, unchanged) rewritten, through the cluster map's cache. */
  async setL2Entry(l2Offset: number, index: number, entry: bigint): Promise<void> {
    const entrySize = l2EntrySize(this.image.header.extendedL2);
    const table = await this.image.map.l2Table(l2Offset);
    table.set(entryBytes(entry), index * entrySize);
    await writeL2Entries(this.image, l2Offset, table, index * entrySize, (index + 1) * entrySize);
    await this.image.child.flush();
  }

  /** An L1 entry of the active table rewritten (in memory too). */
  async setL1Entry(index: number, entry: bigint): Promise<void> {
    await writeL1Entry(this.image, index, entry);
    await this.image.child.flush();
  }
}
