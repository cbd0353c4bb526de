// Writes of whole clusters that were never allocated: what convert writes into a new image.
//
// The clusters are allocated under the image lock, in call order, so they lie on the host in guest
// order as qemu-img lays them out; the data and then the L2 entries are written after the lock is
// released, so one write's data goes to the disk while the next one allocates (qemu's qcow2 driver
// also drops its lock for data I/O). Until its entries are set, a fresh write's clusters read as
// they did (unallocated), and no other write may take them: any other write first waits for the
// fresh writes under way (drain), as does everything that reads metadata from the file.
//
// Order on disk is the writer's: refcounts raised (and synced by allocate), the data, sync, entries.
import type { BlockNode } from '@tessera/core';
import type { Qcow2Header } from '../header/header.ts';
import type { Refcounts } from '../refcount/refcounts.ts';
import type { ClusterMap } from './mapping.ts';
import type { OverlapGuard } from '../overlap/guard.ts';
import { setOwnedEntryHalves } from '../layout.ts';
import type { DataCipher } from '../encryption/data-cipher.ts';

/** What is left of a write once it no longer needs the image lock (wrapped: a promise cannot hold a promise). */
export interface WriteTail {
  readonly done: Promise<void>;
}

export class FreshWrites {
  private readonly clusterSize: number;
  private readonly l2Entries: number;
  /** What is left of each fresh write under way, with its guest range (its clusters are taken). */
  private readonly tails = new Map<Promise<void>, readonly [number, number]>();

  constructor(
    private readonly header: Qcow2Header,
    private readonly map: ClusterMap,
    private readonly refcounts: Refcounts,
    private readonly file: BlockNode,
    private readonly sync: () => Promise<void>,
    private readonly guard?: OverlapGuard,
    /** Encrypted images: each run stored encrypted for its host place (a copy: `data` is the caller's). */
    private readonly cipher?: DataCipher,
  ) {
    this.clusterSize = header.clusterSize;
    this.l2Entries = map.geometry.l2Entries; // (standard L2 entries only: see applies)
  }

  /**
   * Whether writing `data` at `offset` is a fresh write, given the L2 table it falls in: standard
   * L2 entries, whole clusters, every entry zero (never allocated) and none taken by a fresh
   * write under way. (Clusters of zeroes are data too: zero clusters come from writeZeroes.)
   */
  applies(view: DataView, offset: number, data: Uint8Array): boolean {
    const cs = this.clusterSize;
    if (this.header.extendedL2 || offset % cs !== 0 || data.length % cs !== 0 || data.length === 0) return false;
    const firstCluster = offset / cs;
    const first = firstCluster % this.l2Entries;
    const count = data.length / cs;
    if (first + count > this.l2Entries) return false;
    // Ranges, not a set of clusters: a few writes are under way, of thousands of clusters each.
    for (const [start, end] of this.tails.values()) if (start < offset + data.length && offset < end) return false;
    for (let i = 0; i < count; i++) {
      const at = (first + i) * 8;
      if (view.getUint32(at) !== 0 || view.getUint32(at + 4) !== 0) return false;
    }
    return true;
  }

  /**
   * Allocate the clusters (the caller holds the image lock) and start the rest: returns it, to be
   * awaited after the lock is released. `data` must stay untouched until it settles.
   */
  async start(l2Offset: number, table: Uint8Array, offset: number, data: Uint8Array): Promise<WriteTail> {
    const hosts = await this.refcounts.allocate(data.length / this.clusterSize);
    await this.guard?.checkClusters(hosts); // refcounts that call metadata free must not hand it out
    this.map.pin(l2Offset);
    const tail = this.finish(l2Offset, table, offset, data, hosts).finally(() => {
      this.map.unpin(l2Offset);
      this.tails.delete(tail);
    });
    this.tails.set(tail, [offset, offset + data.length]);
    tail.catch(() => {}); // its writer reports a failure; drain() must not turn it into an unhandled one
    return { done: tail };
  }

  /** Wait until no fresh write is under way (the caller holds the image lock: none starts meanwhile). */
  async drain(): Promise<void> {
    while (this.tails.size) await Promise.allSettled([...this.tails.keys()]);
  }

  /**
   * Wait for the fresh writes under way that overlap `[offset, offset + length)`. Under the lock's
   * read side, so a read sees every write issued before it: those have allocated already.
   */
  async settle(offset: number, length: number): Promise<void> {
    const overlapping = [...this.tails].filter(([, [start, end]]) => start < offset + length && offset < end).map(([tail]) => tail);
    if (overlapping.length) await Promise.allSettled(overlapping);
  }

  /** The data (in runs contiguous on the host), sync, then the entries. */
  private async finish(l2Offset: number, table: Uint8Array, offset: number, data: Uint8Array, hosts: readonly number[]): Promise<void> {
    const cs = this.clusterSize;
    const count = hosts.length;
    for (let i = 0; i < count; ) {
      let j = i + 1;
      while (j < count && hosts[j] === hosts[j - 1]! + cs) j++;
      const run = data.subarray(i * cs, j * cs);
      await this.file.write(hosts[i]!, this.cipher ? this.cipher.encrypted(hosts[i]!, offset + i * cs, run) : run);
      i = j;
    }
    await this.sync(); // the data is on disk before any entry points to it
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const first = (offset / cs) % this.l2Entries;
    for (let i = 0; i < count; i++) setOwnedEntryHalves(view, (first + i) * 8, hosts[i]!);
    await this.map.storeEntries(l2Offset, table, first * 8, (first + count) * 8);
  }
}
