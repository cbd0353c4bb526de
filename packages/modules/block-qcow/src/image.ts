// Guest I/O of a qcow image: the L1/L2 walk (every offset checked against the file), compressed
// clusters inflated on read, and writes that allocate L2 tables and clusters at the end of the
// file as qemu does (a compressed cluster written to is rewritten whole, uncompressed).
import { inflateRawSync } from 'node:zlib';
import type { BlockNode, BlockStatus } from '@tessera/core';
import { codedError } from '@tessera/module-kit/coded-error';
import { COMPRESSED, decodeTable, encodeEntry, geometry, type Geometry, type QcowHeader } from './layout.ts';
import { Serial } from '@tessera/module-kit/serial';

const CACHED_TABLES = 64;

type Cluster =
  | { readonly kind: 'unallocated' }
  | { readonly kind: 'data'; readonly host: number }
  | { readonly kind: 'compressed'; readonly host: number; readonly bytes: number };

export class QcowImage {
  readonly geometry: Geometry;
  private readonly tables = new Map<number, BigUint64Array>();
  private readonly writes = new Serial();
  private fileEnd: number;

  constructor(
    readonly file: BlockNode,
    readonly header: QcowHeader,
    private readonly l1: BigUint64Array,
    readonly backing: BlockNode | undefined,
  ) {
    this.geometry = geometry(header);
    this.fileEnd = file.size;
  }

  get size(): number {
    return this.header.size;
  }
  get clusterSize(): number {
    return this.geometry.clusterSize;
  }

  private corrupt(what: string): Error {
    return codedError(`qcow image is corrupt: ${what}`, 'corrupt-image');
  }

  private async l2(index: number): Promise<BigUint64Array | undefined> {
    const entry = this.l1[index]!;
    if (entry === 0n) return undefined;
    const offset = Number(entry);
    const cached = this.tables.get(offset);
    if (cached) return cached;
    const bytes = this.geometry.l2Entries * 8;
    if (entry > BigInt(Number.MAX_SAFE_INTEGER) || offset % 8 !== 0 || offset + bytes > this.file.size) {
      throw this.corrupt(`L2 table at ${entry} (L1 entry ${index}) lies beyond the end of the file`);
    }
    const raw = new Uint8Array(bytes);
    await this.file.read(offset, raw);
    const table = decodeTable(raw);
    if (this.tables.size >= CACHED_TABLES) this.tables.delete(this.tables.keys().next().value!);
    this.tables.set(offset, table);
    return table;
  }

  private async cluster(index: number): Promise<Cluster> {
    const table = await this.l2(Math.floor(index / this.geometry.l2Entries));
    const entry = table?.[index % this.geometry.l2Entries] ?? 0n;
    if (entry === 0n) return { kind: 'unallocated' };
    const cs = this.clusterSize;
    if (entry & COMPRESSED) {
      const shift = BigInt(63 - this.header.clusterBits);
      const host = Number(entry & ((1n << shift) - 1n));
      const bytes = Number((entry >> shift) & BigInt(cs - 1));
      if (bytes === 0 || host + bytes > this.file.size) throw this.corrupt(`compressed cluster ${index} at ${host} (${bytes} bytes) lies beyond the end of the file`);
      return { kind: 'compressed', host, bytes };
    }
    const host = Number(entry);
    if (host % cs !== 0 || host + cs > Math.ceil(this.file.size / cs) * cs) throw this.corrupt(`cluster ${index} at ${entry} is unaligned or beyond the end of the file`);
    return { kind: 'data', host };
  }

  /** Guest bytes of one cluster range (within one cluster). */
  private async readCluster(state: Cluster, guest: number, within: number, into: Uint8Array): Promise<void> {
    if (state.kind === 'data') {
      // The file may end inside its last cluster (qemu does not pad it): the rest reads as zeroes.
      const available = Math.max(0, Math.min(into.length, this.file.size - (state.host + within)));
      if (available > 0) await this.file.read(state.host + within, into.subarray(0, available));
      into.fill(0, available);
    } else if (state.kind === 'compressed') {
      into.set((await this.inflate(state)).subarray(within, within + into.length));
    } else {
      const available = this.backing ? Math.max(0, Math.min(into.length, this.backing.size - guest)) : 0;
      if (available > 0) await this.backing!.read(guest, into.subarray(0, available));
      into.fill(0, available);
    }
  }

  private async inflate(state: { host: number; bytes: number }): Promise<Uint8Array> {
    const compressed = new Uint8Array(state.bytes);
    await this.file.read(state.host, compressed);
    let out: Uint8Array;
    try {
      out = inflateRawSync(compressed, { maxOutputLength: this.clusterSize, finishFlush: 2 /* Z_SYNC_FLUSH: stop at the data's end */ });
    } catch (error) {
      throw this.corrupt(`compressed cluster at ${state.host} does not inflate (${(error as Error).message})`);
    }
    if (out.length !== this.clusterSize) throw this.corrupt(`compressed cluster at ${state.host} inflates to ${out.length} bytes, not a cluster`);
    return out;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    const cs = this.clusterSize;
    for (let at = 0; at < into.length; ) {
      const index = Math.floor((offset + at) / cs);
      const within = (offset + at) % cs;
      const n = Math.min(into.length - at, cs - within);
      await this.readCluster(await this.cluster(index), offset + at, within, into.subarray(at, at + n));
      at += n;
    }
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    return this.writes.run(async () => {
      const cs = this.clusterSize;
      for (let at = 0; at < data.length; ) {
        const index = Math.floor((offset + at) / cs);
        const within = (offset + at) % cs;
        const n = Math.min(data.length - at, cs - within);
        const part = data.subarray(at, at + n);
        const state = await this.cluster(index);
        if (state.kind === 'data') await this.file.write(state.host + within, part);
        else {
          // A new cluster: what the guest saw there (backing bytes, or the inflated cluster), then this write.
          const whole = new Uint8Array(cs);
          const guestStart = index * cs;
          if (n < cs) await this.readCluster(state, guestStart, 0, whole.subarray(0, Math.min(cs, this.size - guestStart)));
          whole.set(part, within);
          await this.allocate(index, whole);
        }
        at += n;
      }
    });
  }

  /** Append a cluster (and its L2 table if it has none), then link it: table first, then L1. */
  private async allocate(index: number, content: Uint8Array): Promise<void> {
    const cs = this.clusterSize;
    const l1Index = Math.floor(index / this.geometry.l2Entries);
    let table = await this.l2(l1Index);
    if (!table) {
      const tableOffset = this.alignedEnd();
      table = new BigUint64Array(this.geometry.l2Entries);
      this.fileEnd = tableOffset + table.length * 8;
      await this.file.write(tableOffset, new Uint8Array(table.length * 8));
      this.l1[l1Index] = BigInt(tableOffset);
      this.tables.set(tableOffset, table);
      await this.file.write(this.header.l1TableOffset + l1Index * 8, encodeEntry(tableOffset));
    }
    const host = this.alignedEnd();
    this.fileEnd = host + cs;
    await this.file.write(host, content);
    const slot = index % this.geometry.l2Entries;
    table[slot] = BigInt(host);
    await this.file.write(Number(this.l1[l1Index]!) + slot * 8, encodeEntry(host));
  }

  private alignedEnd(): number {
    const cs = this.clusterSize;
    return Math.ceil(Math.max(this.fileEnd, this.file.size) / cs) * cs;
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const cs = this.clusterSize;
    const end = Math.min(offset + length, this.size);
    const first = Math.floor(offset / cs);
    const state = await this.cluster(first);
    let until = Math.min((first + 1) * cs, end);
    // Compressed clusters are reported one at a time (qemu has no offset for them).
    for (let c = first + 1; until < end && state.kind !== 'compressed'; c++) {
      // A whole L2 table's span without a table is unallocated: skipped in one step.
      const perTable = this.geometry.l2Entries;
      if (state.kind === 'unallocated' && this.l1[Math.floor(c / perTable)] === 0n) {
        c = (Math.floor(c / perTable) + 1) * perTable - 1;
        until = Math.min((c + 1) * cs, end);
        continue;
      }
      const next = await this.cluster(c);
      const same = next.kind === state.kind && (state.kind !== 'data' || (next.kind === 'data' && next.host === state.host + (c - first) * cs));
      if (!same) break;
      until = Math.min((c + 1) * cs, end);
    }
    const run = until - offset;
    if (state.kind === 'unallocated') return { length: run, zero: !this.backing, data: false, allocated: false };
    if (state.kind === 'compressed') return { length: run, zero: false, data: true, allocated: true };
    return { length: run, zero: false, data: true, allocated: true, offset: state.host + (offset - first * cs), file: this.file.filename };
  }
}
