// The writes a repair makes, on an image opened for writing. Each one is synced before the
// check goes on, and refcounts are raised before others are lowered, so an interrupted repair
// leaves at most leaks.
import type { Qcow2Image } from '../image.ts';
import { activeL1, l2Table } from '../overlap/structures.ts';

export class CheckRepairs {
  constructor(private readonly image: Qcow2Image) {}

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
    const entrySize = this.image.header.extendedL2 ? 16 : 8;
    const table = await this.image.map.l2Table(l2Offset);
    new DataView(table.buffer, table.byteOffset, table.byteLength).setBigUint64(index * entrySize, entry);
    await this.image.overlap.write(l2Offset + index * entrySize, table.subarray(index * entrySize, (index + 1) * entrySize), l2Table(this.image.header, l2Offset));
    await this.image.child.flush();
  }

  /** An L1 entry of the active table rewritten (in memory too). */
  async setL1Entry(index: number, entry: bigint): Promise<void> {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, entry);
    await this.image.overlap.write(this.image.header.l1TableOffset + index * 8, bytes, activeL1(this.image.header));
    await this.image.child.flush();
    this.image.map.l1[index] = entry;
  }
}
