// Guest writes: L2 tables allocated on demand, new data clusters for unallocated, zero and
// compressed clusters (filled with the old guest content around the write: copy-on-write from
// the backing file, zeroes or the inflated cluster), L2 entries and subcluster bitmaps updated.
// A write of zero bytes stores them (allocated, as qemu's qcow2 without detect-zeroes); zero
// clusters come only from writeZeroes (qemu's write-zeroes), which v2 images lack.
//
// Order on disk, so a crash leaves at most leaked clusters: refcounts first (Refcounts.allocate
// syncs them), then the data, sync, then the L2 entries; a new L2 table is written and synced
// before the L1 entry points to it. Clusters an entry no longer uses are released last.
//
// Internal snapshots share clusters (refcount > 1); an entry without QCOW_OFLAG_COPIED points to
// one. A shared data cluster is never written in place: the write goes to a new cluster (the
// whole cluster, old bytes around the new ones) and the old one loses this reference. A shared L2
// table is copied first (the copy synced before the L1 entry points to it, the old table's
// reference dropped after); the clusters it references keep their refcounts, since each L1 table
// still reaches them once.
import type { BlockNode } from '@tessera/core';
import type { Qcow2Header } from '../header/header.ts';
import type { Refcounts } from '../refcount/refcounts.ts';
import { readHost } from '../host-read.ts';
import {
  ALL_ALLOCATED, ALL_ZERO, OFLAG_COPIED as COPIED, OFLAG_ZERO, compressedClusters, decodeL2Entry, guestPosition, l2HostOffset, l2TableOffset, ownedEntry, subclusterMask,
} from '../layout.ts';
import { FreshWrites, type WriteTail } from './fresh-writes.ts';
import type { ClusterMap } from './mapping.ts';
import type { OverlapGuard } from '../overlap/guard.ts';
import { writeL1Entry, type ActiveTables } from './tables.ts';
import type { DataCipher } from '../encryption/data-cipher.ts';

interface Plan {
  /** Index of the entry in its L2 table. */
  readonly index: number;
  /** Bytes to store at `hostOffset + inCluster` (whole units around the write). */
  readonly data: Uint8Array;
  readonly inCluster: number;
  /** The cluster's host offset, or undefined when a new cluster is needed. */
  hostOffset: number | undefined;
  /** Extended L2: the new bitmap. */
  readonly bitmap?: bigint;
  /** A cluster written with zeroes only: no data, this L2 entry instead. */
  readonly zeroEntry?: bigint;
  /** Host clusters the old entry referenced that the new one does not: [first cluster, count]. */
  readonly release?: readonly [number, number];
}

export class ClusterWriter {
  private readonly fresh: FreshWrites | undefined;
  private readonly clusterSize: number;
  private readonly entrySize: number;
  private readonly l2Entries: number;
  private readonly unitSize: number;
  /** Where the active L1 table's entries are written. */
  private readonly tables: ActiveTables;

  constructor(
    private readonly header: Qcow2Header,
    private readonly map: ClusterMap,
    private readonly refcounts: Refcounts,
    private readonly file: BlockNode,
    /** The guest's current bytes (through the backing file), for copy-on-write. */
    private readonly readGuest: (offset: number, into: Uint8Array) => Promise<void>,
    private readonly sync: () => Promise<void>,
    /** Unallocated clusters read from a backing file (rather than as zeroes): v2 cannot discard to zero then. */
    private readonly hasBacking: boolean,
    /**
     * An external data file: data clusters go there, each at its guest offset (as QEMU places
     * them), and are not refcounted; zeroes are written as data so a raw data file stays valid.
     */
    private readonly dataFile?: BlockNode,
    /** Refuses writes that would land on metadata (a crafted or damaged image). */
    private readonly guard?: OverlapGuard,
    /** Encrypted images: data is stored encrypted, each piece for the place it goes to. */
    private readonly cipher?: DataCipher,
  ) {
    ({ clusterSize: this.clusterSize, l2EntrySize: this.entrySize, l2Entries: this.l2Entries, unitSize: this.unitSize } = map.geometry);
    this.tables = { child: file, header, map, overlap: guard };
    // External data files place clusters at their guest offsets: nothing to allocate early.
    this.fresh = dataFile ? undefined : new FreshWrites(header, map, refcounts, file, sync, guard, cipher);
  }

  /**
   * Start a guest write (the caller holds the image lock): returns what is left of it to await
   * once the lock is released (fresh writes' data and entries), or undefined when it is done.
   * Taken one L2 table's reach at a time, so that with small clusters (whose tables reach 32 KiB
   * at 512 bytes) a long write still takes the fresh path for each table it fills.
   */
  async start(offset: number, data: Uint8Array): Promise<WriteTail | undefined> {
    if (!this.fresh) {
      await this.write(offset, data);
      return undefined;
    }
    const span = this.map.geometry.l2Reach;
    const tails: Promise<void>[] = [];
    for (let done = 0; done < data.length; ) {
      const at = offset + done;
      const end = Math.min(data.length, done + span - (at % span));
      const piece = data.subarray(done, end);
      const { l2Offset, table, view } = await this.entryFor(at);
      if (this.fresh.applies(view, at, piece)) tails.push((await this.fresh.start(l2Offset, table, at, piece)).done);
      else await this.write(at, piece); // (waits for the fresh writes under way first, these included)
      done = end;
    }
    return tails.length ? { done: settledAll(tails) } : undefined;
  }

  /** Wait for the fresh writes under way (the caller holds the image lock). */
  drain(): Promise<void> {
    return this.fresh?.drain() ?? Promise.resolve();
  }

  /** Wait for the fresh writes under way that overlap a guest range (the caller holds the read lock). */
  settle(offset: number, length: number): Promise<void> {
    return this.fresh?.settle(offset, length) ?? Promise.resolve();
  }

  /** A guest write, done when it resolves (the caller holds the image lock). */
  async write(offset: number, data: Uint8Array): Promise<void> {
    await this.drain(); // a fresh write under way may hold clusters this one touches
    const span = this.map.geometry.l2Reach;
    let done = 0;
    while (done < data.length) {
      const at = offset + done;
      const end = Math.min(data.length, done + span - (at % span));
      await this.writeInTable(at, data.subarray(done, end));
      done = end;
    }
  }

  /**
   * Make a guest range read as zeroes (the caller holds the image lock), as qemu's zeroize:
   * whole clusters become zero clusters (v3; with `mayUnmap` their host clusters are given back),
   * with extended L2 whole subclusters become zero subclusters, and a v2 image without a backing
   * file has its whole clusters discarded (unallocated reads as zeroes there). What is left
   * (partial clusters or subclusters, compressed clusters partly zeroed, v2 with a backing file,
   * an external data file) is written as zero data, as qemu's block layer falls back to a buffer.
   */
  async writeZeroes(offset: number, length: number, mayUnmap: boolean): Promise<void> {
    await this.drain();
    const unit = this.unitSize;
    const end = offset + length;
    const first = Math.ceil(offset / unit) * unit;
    const last = Math.max(first, Math.floor(end / unit) * unit);
    const recordable = !this.dataFile && (this.header.version >= 3 || !this.hasBacking);
    if (!recordable || first >= last) return this.writeZeroData(offset, end);
    await this.writeZeroData(offset, Math.min(end, first));
    const span = this.map.geometry.l2Reach;
    for (let at = first; at < last; ) {
      const stop = Math.min(last, (Math.floor(at / span) + 1) * span);
      await this.zeroUnitsInTable(at, stop, mayUnmap);
      at = stop;
    }
    await this.writeZeroData(Math.max(last, offset), end);
  }

  /** Zero bytes written as data over `[from, to)`, a cluster at a time (one zero buffer). */
  private async writeZeroData(from: number, to: number): Promise<void> {
    if (to <= from) return;
    const zeroes = new Uint8Array(Math.min(to - from, this.clusterSize));
    for (let at = from; at < to; ) {
      const stop = Math.min(to, (Math.floor(at / this.clusterSize) + 1) * this.clusterSize);
      await this.write(at, zeroes.subarray(0, stop - at));
      at = stop;
    }
  }

  /** Guest range `[start, stop)` (whole units, within one L2 table's reach) recorded as zeroes. */
  private async zeroUnitsInTable(start: number, stop: number, mayUnmap: boolean): Promise<void> {
    const cs = this.clusterSize;
    const firstCluster = Math.floor(start / cs);
    // A v2 discard where nothing is allocated has nothing to do (and needs no L2 table).
    if (this.header.version < 3 && l2TableOffset(this.map.l1[guestPosition(this.map.geometry, start).l1Index]!) === 0) return;
    const { l2Offset, table, view } = await this.entryFor(start);
    const plans: Plan[] = [];
    const asData: Array<[number, number]> = [];
    for (let cluster = firstCluster; cluster * cs < stop; cluster++) {
      const index = cluster % this.l2Entries;
      const entry = view.getBigUint64(index * this.entrySize);
      const old = decodeL2Entry(entry, this.header.clusterBits, false);
      const compressed = old.kind === 'compressed' ? compressedClusters(old.hostOffset, old.compressedLength, cs) : undefined;
      const from = Math.max(start, cluster * cs);
      const to = Math.min(stop, (cluster + 1) * cs);
      if (to - from === cs) {
        plans.push(this.zeroPlan(index, old.kind, entry, l2HostOffset(entry), compressed, mayUnmap));
      } else if (old.kind === 'compressed') {
        asData.push([from, to]); // (its subclusters cannot be zeroed one by one)
      } else {
        // Extended L2: the subclusters become zero ones, no longer allocated; the others keep their state.
        const mask = subclusterMask((from - cluster * cs) / this.unitSize, (to - cluster * cs) / this.unitSize);
        const bitmap = view.getBigUint64(index * this.entrySize + 8);
        plans.push({ index, data: new Uint8Array(0), inCluster: 0, hostOffset: undefined, zeroEntry: entry, bitmap: (bitmap & ~mask) | (mask << 32n) });
      }
    }
    await this.apply(l2Offset, table, plans, firstCluster);
    for (const [from, to] of asData) await this.writeZeroData(from, to);
  }

  /**
   * The walk from a guest offset to its L2 entry for a change: the L2 table (allocated or unshared
   * as l2For does), a view of it, and the entry's byte offset in it.
   */
  async entryFor(offset: number): Promise<{ readonly l2Offset: number; readonly table: Uint8Array; readonly view: DataView; readonly at: number }> {
    const { l1Index, l2At } = guestPosition(this.map.geometry, offset);
    const [l2Offset, table] = await this.l2For(l1Index);
    return { l2Offset, table, view: new DataView(table.buffer, table.byteOffset, table.byteLength), at: l2At };
  }

  /** The L2 table for L1 index `l1Index`, allocated (zeroed) when there is none, copied when shared. */
  async l2For(l1Index: number): Promise<[number, Uint8Array]> {
    let offset = l2TableOffset(this.map.l1[l1Index]!);
    if (offset !== 0 && (this.map.l1[l1Index]! & COPIED) === 0n) offset = await this.unshareL2(l1Index, offset);
    if (offset === 0) {
      [offset] = (await this.refcounts.allocate(1)) as [number];
      await this.guard?.check(offset, this.clusterSize);
      const table = new Uint8Array(this.clusterSize);
      await this.file.write(offset, table);
      this.map.adoptL2Table(offset, table);
      await this.refcounts.writeBack(); // its refcount, if deferred (cache=unsafe), before the L1 entry points to it
      await this.sync();
      await writeL1Entry(this.tables, l1Index, ownedEntry(offset));
      this.guard?.addL2Table(offset);
    }
    // Its entries are about to change: the table must not lie on other metadata.
    await this.guard?.check(offset, this.clusterSize, offset);
    return [offset, await this.map.l2Table(offset)];
  }

  /** An L2 table that a snapshot shares, replaced by a copy of its own; returns the copy's offset. */
  private async unshareL2(l1Index: number, offset: number): Promise<number> {
    const cs = this.clusterSize;
    const table = await this.map.l2Table(offset);
    const sole = (await this.refcounts.get(offset / cs)) === 1n;
    // A table nobody else references only lacked its flag: set it, nothing to copy.
    let target = offset;
    if (!sole) {
      const copy = table.slice();
      const view = new DataView(copy.buffer);
      for (let at = 0; at < cs; at += this.entrySize) {
        const entry = view.getBigUint64(at);
        const host = l2HostOffset(entry);
        if (host === 0 || decodeL2Entry(entry, this.header.clusterBits, false).kind === 'compressed') continue;
        const exclusive = (await this.refcounts.get(host / cs)) === 1n;
        view.setBigUint64(at, exclusive ? entry | COPIED : entry & ~COPIED);
      }
      [target] = (await this.refcounts.allocate(1)) as [number];
      await this.guard?.check(target, cs);
      await this.file.write(target, copy);
      this.map.adoptL2Table(target, copy);
      await this.refcounts.writeBack(); // its refcount, if deferred (cache=unsafe)
      await this.file.flush(); // always: the copy is complete before anything points to it
    }
    await writeL1Entry(this.tables, l1Index, ownedEntry(target));
    this.guard?.addL2Table(target);
    if (!sole) {
      await this.file.flush();
      await this.refcounts.release(offset / cs, 1);
    }
    return target;
  }

  /** A write within the reach of one L2 table. */
  private async writeInTable(offset: number, data: Uint8Array): Promise<void> {
    const cs = this.clusterSize;
    const firstCluster = Math.floor(offset / cs);
    const lastCluster = Math.floor((offset + data.length - 1) / cs);
    const { l2Offset, table, view } = await this.entryFor(offset);

    const plans: Plan[] = [];
    for (let cluster = firstCluster; cluster <= lastCluster; cluster++) {
      const clusterStart = cluster * cs;
      const from = Math.max(offset, clusterStart);
      const to = Math.min(offset + data.length, clusterStart + cs);
      const piece = data.subarray(from - offset, to - offset);
      const index = cluster % this.l2Entries;
      const entry = view.getBigUint64(index * this.entrySize);
      const old = decodeL2Entry(entry, this.header.clusterBits, this.dataFile !== undefined);
      const entryOffset = l2HostOffset(entry);
      // The old entry's clusters, when the new entry will not use them.
      let release = old.kind === 'compressed' ? compressedClusters(old.hostOffset, old.compressedLength, cs) : undefined;
      if (!this.header.extendedL2) {
        // (Data file clusters are not refcounted: never shared.)
        if (old.kind === 'data' && ((entry & COPIED) !== 0n || this.dataFile)) {
          plans.push({ index, data: piece, inCluster: from - clusterStart, hostOffset: old.hostOffset });
          continue;
        }
        // Shared with a snapshot: the whole cluster goes to a new one.
        if (old.kind === 'data') release = [old.hostOffset / cs, 1];
        // A zero cluster may keep a preallocated host cluster: give it back and take a new one.
        if (old.kind === 'zero' && entryOffset !== 0) release = [entryOffset / cs, 1];
        const content = await this.around(clusterStart, cs, from, piece);
        plans.push({ index, data: content, inCluster: 0, hostOffset: undefined, ...(release ? { release } : {}) });
        continue;
      }
      // Extended L2: whole subclusters around the write; the others keep their state.
      const bitmap = view.getBigUint64(index * this.entrySize + 8);
      if (old.kind === 'compressed') {
        const content = await this.around(clusterStart, cs, from, piece);
        plans.push({ index, data: content, inCluster: 0, hostOffset: undefined, bitmap: ALL_ALLOCATED, ...(release ? { release } : {}) });
        continue;
      }
      const firstUnit = Math.floor((from - clusterStart) / this.unitSize);
      const lastUnit = Math.floor((to - 1 - clusterStart) / this.unitSize);
      const mask = subclusterMask(firstUnit, lastUnit + 1);
      const unitsStart = clusterStart + firstUnit * this.unitSize;
      const content = await this.around(unitsStart, (lastUnit - firstUnit + 1) * this.unitSize, from, piece);
      const newBitmap = (bitmap | mask) & ~(mask << 32n);
      if (entryOffset !== 0 && (entry & COPIED) === 0n && !this.dataFile) {
        // Shared with a snapshot: the host cluster as it is, the written subclusters over it, to a new cluster.
        const whole = new Uint8Array(cs);
        await readHost(this.file, entryOffset, whole);
        this.cipher?.decrypt(entryOffset, clusterStart, whole); // re-encrypted for its new place
        whole.set(content, unitsStart - clusterStart);
        plans.push({ index, data: whole, inCluster: 0, hostOffset: undefined, bitmap: newBitmap, release: [entryOffset / cs, 1] });
        continue;
      }
      plans.push({
        index,
        data: content,
        inCluster: unitsStart - clusterStart,
        hostOffset: entryOffset !== 0 || (this.dataFile && (entry & COPIED) !== 0n) ? entryOffset : undefined,
        bitmap: newBitmap,
      });
    }
    await this.apply(l2Offset, table, plans, firstCluster);
  }

  /**
   * Carry out the plans for entries of one L2 table: new clusters allocated, the data written,
   * sync, the entries that change stored, and the clusters old entries no longer use released.
   */
  private async apply(l2Offset: number, table: Uint8Array, plans: Plan[], firstCluster: number): Promise<void> {
    const cs = this.clusterSize;
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const fresh = plans.filter((plan) => plan.hostOffset === undefined && plan.zeroEntry === undefined);
    if (fresh.length) {
      const tableStart = (firstCluster - (firstCluster % this.l2Entries)) * cs;
      const offsets = this.dataFile ? fresh.map((plan) => tableStart + plan.index * cs) : await this.refcounts.allocate(fresh.length);
      fresh.forEach((plan, i) => (plan.hostOffset = offsets[i]));
    }
    // Data: runs of plans that are contiguous on the host in one write each, all checked first.
    const withData = plans.filter((plan) => plan.zeroEntry === undefined);
    const tableGuest = (firstCluster - (firstCluster % this.l2Entries)) * cs;
    const stored = withData.map((plan) => (this.cipher ? this.cipher.encrypted(plan.hostOffset! + plan.inCluster, tableGuest + plan.index * cs + plan.inCluster, plan.data) : plan.data));
    const runs: [number, Uint8Array][] = [];
    for (let i = 0, plans = withData; i < plans.length; ) {
      let j = i + 1;
      let length = plans[i]!.data.length;
      while (
        j < plans.length &&
        plans[j]!.hostOffset! + plans[j]!.inCluster === plans[i]!.hostOffset! + plans[i]!.inCluster + length &&
        plans[j - 1]!.inCluster + plans[j - 1]!.data.length === cs
      ) {
        length += plans[j]!.data.length;
        j++;
      }
      runs.push([plans[i]!.hostOffset! + plans[i]!.inCluster, j - i === 1 ? stored[i]! : concat(stored.slice(i, j), length)]);
      i = j;
    }
    // (Data file clusters hold guest data only: nothing to guard there, as in QEMU.)
    if (this.guard && !this.dataFile) for (const [at, run] of runs) await this.guard.check(at, run.length);
    for (const [at, run] of runs) await (this.dataFile ?? this.file).write(at, run);

    // Entries: only those that change.
    let low = Infinity;
    let high = -Infinity;
    for (const plan of plans) {
      const at = plan.index * this.entrySize;
      const entry = plan.zeroEntry ?? ownedEntry(plan.hostOffset!);
      const changed = view.getBigUint64(at) !== entry || (plan.bitmap !== undefined && view.getBigUint64(at + 8) !== plan.bitmap);
      if (!changed) continue;
      low = Math.min(low, at);
      high = Math.max(high, at + this.entrySize);
    }
    if (low < high) {
      await this.dataFile?.flush();
      await this.sync(); // the data is on disk before any entry points to it
      for (const plan of plans) {
        const at = plan.index * this.entrySize;
        view.setBigUint64(at, plan.zeroEntry ?? ownedEntry(plan.hostOffset!));
        if (plan.bitmap !== undefined) view.setBigUint64(at + 8, plan.bitmap);
      }
      await this.map.storeEntries(l2Offset, table, low, high);
    }
    if (!this.dataFile) for (const plan of plans) if (plan.release) await this.refcounts.release(plan.release[0], plan.release[1]);
  }

  /**
   * How a whole cluster made zero is recorded, as qemu's zeroize: v2 (no backing file) discards
   * it; v3 gives back a compressed cluster's space always, an allocated host cluster only with
   * `mayUnmap` (else the entry keeps it, flagged zero; with extended L2 every subcluster zero).
   */
  private zeroPlan(index: number, kind: string, entry: bigint, entryOffset: number, compressed: [number, number] | undefined, mayUnmap: boolean): Plan {
    const cs = this.clusterSize;
    const base = { index, data: new Uint8Array(0), inCluster: 0, hostOffset: undefined };
    const v2 = this.header.version < 3;
    const unmap = v2 || kind === 'compressed' || (mayUnmap && entryOffset !== 0);
    const release = kind === 'compressed' ? compressed : unmap && entryOffset !== 0 ? ([entryOffset / cs, 1] as [number, number]) : undefined;
    const kept = unmap ? 0n : entry;
    if (v2) return { ...base, zeroEntry: 0n, ...(release ? { release } : {}) };
    if (this.header.extendedL2) return { ...base, zeroEntry: kept, bitmap: ALL_ZERO, ...(release ? { release } : {}) };
    return { ...base, zeroEntry: kept | OFLAG_ZERO, ...(release ? { release } : {}) };
  }

  /** The guest bytes of `[start, start + length)` with `piece` (at guest offset `from`) written over them. */
  private async around(start: number, length: number, from: number, piece: Uint8Array): Promise<Uint8Array> {
    if (from === start && piece.length === length) return piece;
    const content = new Uint8Array(length);
    await this.readGuest(start, content);
    content.set(piece, from - start);
    return content;
  }
}

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  // Whole clusters of one guest write lie next to each other in its buffer already: no copy.
  const first = parts[0]!;
  if (parts.every((part, i) => i === 0 || (part.buffer === first.buffer && part.byteOffset === parts[i - 1]!.byteOffset + parts[i - 1]!.length))) {
    return new Uint8Array(first.buffer, first.byteOffset, length);
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Wait for every promise, then fail with the first failure: the caller's data stays in use until all settle. */
async function settledAll(promises: readonly Promise<void>[]): Promise<void> {
  const failed = (await Promise.allSettled(promises)).find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}
