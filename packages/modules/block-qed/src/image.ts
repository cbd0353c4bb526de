// Guest reads and writes of a QED image: reads follow the tables (unallocated clusters show the
// backing file, or zeroes); writes to unallocated or zero clusters allocate whole clusters at the
// end of the file, filled from what the guest saw there, then link them into L2 (and L1), with the
// need-check flag set while tables are changing, as qemu does.
import type { BlockNode, BlockStatus } from '@tessera/core';
import { checkQed } from './check.ts';
import { F_NEED_CHECK, UNALLOCATED, encodeEntries, encodeHeader, tableBytes, type QedHeader } from './layout.ts';
import { Serial } from '@tessera/module-kit/serial';
import { Tables } from './tables.ts';

export class QedImage {
  private readonly writes = new Serial();
  private fileEnd: number;

  constructor(
    readonly file: BlockNode,
    readonly header: QedHeader,
    readonly tables: Tables,
    readonly backing: BlockNode | undefined,
  ) {
    this.fileEnd = Math.ceil(file.size / header.clusterSize) * header.clusterSize;
  }

  get clusterSize(): number {
    return this.header.clusterSize;
  }
  /** The disk's size in bytes. */
  get size(): number {
    return this.header.imageSize;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    const cs = this.clusterSize;
    for (let at = 0; at < into.length; ) {
      const cluster = Math.floor((offset + at) / cs);
      const within = (offset + at) % cs;
      const n = Math.min(into.length - at, cs - within);
      const part = into.subarray(at, at + n);
      const state = await this.tables.state(cluster);
      if (state.kind === 'data') {
        // A file that ends inside its last cluster reads as zeroes past its end.
        const available = Math.max(0, Math.min(n, this.file.size - (state.host + within)));
        if (available > 0) await this.file.read(state.host + within, part.subarray(0, available));
        part.fill(0, available);
      } else if (state.kind === 'zero') part.fill(0);
      else await this.readBacking(offset + at, part);
      at += n;
    }
  }

  /** What shows through an unallocated range: the backing file's bytes, zeroes past its end. */
  private async readBacking(offset: number, into: Uint8Array): Promise<void> {
    const available = this.backing ? Math.max(0, Math.min(into.length, this.backing.size - offset)) : 0;
    if (available > 0) await this.backing!.read(offset, into.subarray(0, available));
    into.fill(0, available);
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    return this.writes.run(async () => {
      const cs = this.clusterSize;
      for (let at = 0; at < data.length; ) {
        const cluster = Math.floor((offset + at) / cs);
        const state = await this.tables.state(cluster);
        if (state.kind === 'data') {
          const within = (offset + at) % cs;
          const n = Math.min(data.length - at, cs - within);
          await this.file.write(state.host + within, data.subarray(at, at + n));
          at += n;
          continue;
        }
        at += await this.allocateRun(cluster, offset + at, data.subarray(at));
      }
    });
  }

  /**
   * Allocate the clusters from `cluster` on that this write covers and that have no data yet
   * (within one L2 table), write them whole, and link them; returns the bytes of `data` consumed.
   */
  private async allocateRun(cluster: number, offset: number, data: Uint8Array): Promise<number> {
    const cs = this.clusterSize;
    const perTable = this.tables.entriesPerTable;
    const l1Index = Math.floor(cluster / perTable);
    const lastWanted = Math.floor((offset + data.length - 1) / cs);
    let count = 1;
    while (cluster + count <= lastWanted && (cluster + count) % perTable !== 0 && (await this.tables.state(cluster + count)).kind !== 'data') count++;
    const start = cluster * cs;
    const buffer = new Uint8Array(count * cs);
    const consumed = Math.min(data.length, start + buffer.length - offset);
    // Only the edges the write leaves uncovered need what the guest saw there.
    if (offset > start) await this.read(start, buffer.subarray(0, offset - start));
    const tail = offset + consumed;
    const end = Math.min(start + buffer.length, this.header.imageSize);
    if (tail < end) await this.read(tail, buffer.subarray(tail - start, end - start));
    buffer.set(data.subarray(0, consumed), offset - start);

    await this.markNeedCheck();
    const host = this.fileEnd;
    this.fileEnd += buffer.length;
    await this.file.write(host, buffer);
    let table = await this.tables.l2(l1Index);
    const first = cluster % perTable;
    const entries = Array.from({ length: count }, (_, i) => host + i * cs);
    if (table) {
      table.set(entries, first);
      await this.file.write(this.tables.l1[l1Index]! + first * 8, encodeEntries(entries));
    } else {
      table = new Float64Array(perTable);
      table.set(entries, first);
      const tableOffset = this.fileEnd;
      this.fileEnd += tableBytes(this.header);
      await this.file.write(tableOffset, encodeEntries(Array.from(table)));
      this.tables.l1[l1Index] = tableOffset;
      this.tables.remember(tableOffset, table);
      await this.file.write(this.header.l1TableOffset + l1Index * 8, encodeEntries([tableOffset]));
    }
    return consumed;
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const cs = this.clusterSize;
    const end = Math.min(offset + length, this.header.imageSize);
    const first = Math.floor(offset / cs);
    const state = await this.tables.state(first);
    let until = Math.min((first + 1) * cs, end);
    for (let c = first + 1; until < end; c++) {
      // A whole L2 table's span without a table is unallocated: skipped in one step.
      const perTable = this.tables.entriesPerTable;
      if (state.kind === 'unallocated' && this.tables.l1[Math.floor(c / perTable)] === UNALLOCATED) {
        c = (Math.floor(c / perTable) + 1) * perTable - 1;
        until = Math.min((c + 1) * cs, end);
        continue;
      }
      const next = await this.tables.state(c);
      const same = next.kind === state.kind && (state.kind !== 'data' || (next.kind === 'data' && next.host === state.host + (c - first) * cs));
      if (!same) break;
      until = Math.min((c + 1) * cs, end);
    }
    const run = until - offset;
    if (state.kind === 'zero') return { length: run, zero: true, data: false, allocated: true };
    // Unallocated with no backing file reads as zeroes; with one, the backing file answers.
    if (state.kind === 'unallocated') return { length: run, zero: !this.backing, data: false, allocated: false };
    const host = state.host + (offset - first * cs);
    const inFile = await this.file.blockStatus?.(host, run);
    return { length: inFile ? Math.min(inFile.length, run) : run, zero: inFile?.zero ?? false, data: true, allocated: true, offset: host, file: this.file.filename };
  }

  /** Set need-check before the first table change, flushed before any table is written. */
  private async markNeedCheck(): Promise<void> {
    if (this.header.features & F_NEED_CHECK) return;
    this.header.features |= F_NEED_CHECK;
    await this.file.write(0, encodeHeader(this.header));
    await this.file.flush();
  }

  /** Tables are consistent on disk once flushed: the flag comes off (qemu on flush timer and close). */
  async clearNeedCheck(): Promise<void> {
    await this.writes.run(async () => {
      if (!(this.header.features & F_NEED_CHECK)) return;
      await this.file.flush();
      this.header.features &= ~F_NEED_CHECK;
      await this.file.write(0, encodeHeader(this.header));
      await this.file.flush();
    });
  }

  /** Opened for writing with the flag set: check and repair the tables first, as qemu does. */
  async recoverIfNeeded(): Promise<void> {
    if (!(this.header.features & F_NEED_CHECK)) return;
    const result = await this.writes.run(() => checkQed(this.file, this.tables, true));
    if (result.checkErrors === 0 && result.corruptions === 0) await this.clearNeedCheck();
  }

  async check(repair: boolean) {
    return this.writes.run(() => checkQed(this.file, this.tables, repair));
  }
}

