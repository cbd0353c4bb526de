/**
 * A seSparse extent, read-only as in qemu (which has no write support for it): grains of 4 KiB
 * found through a directory of u64 entries naming grain tables by number, tables of 4096 u64
 * entries whose top four bits say what the grain is: 0 not allocated (the backing image shows
 * through), 1 unmapped and 2 zeroed (both read as zeroes), 3 allocated with the grain's number in
 * the other 60 bits (its low 12 bits stored above the high 48), any other value corrupt.
 */
import type { BlockNode, BlockStatus } from '@tessera/core';
import { checkSeSparseVolatileHeader, parseSeSparseHeader, SESPARSE_GRAIN_SECTORS, SESPARSE_GT_ENTRIES, SESPARSE_GT_SECTORS, type SeSparseHeader } from './sesparse-header.ts';
import { corrupt, unsupportedOperation } from './errors.ts';
import type { Extent } from './extent.ts';
import { GrainRuns } from './grain-runs.ts';
import type { BackingRead } from './sparse-extent.ts';
import { SECTOR } from './sparse-header.ts';

const GRAIN_BYTES = SESPARSE_GRAIN_SECTORS * SECTOR;
const GT_BYTES = SESPARSE_GT_SECTORS * SECTOR;
/** Grain tables kept in memory (32 KiB each). */
const GT_CACHE_LIMIT = 1024;

type Grain = { readonly kind: 'unallocated' } | { readonly kind: 'zeroed' } | { readonly kind: 'data'; readonly offset: number };

/** Open a seSparse extent file covering `length` guest bytes: both headers and the grain directory, checked. */
export async function openSeSparse(file: BlockNode, length: number, where: string, backing: BackingRead | undefined): Promise<SeSparseExtent> {
  const head = new Uint8Array(SECTOR);
  if (file.size >= SECTOR) await file.read(0, head);
  const header = parseSeSparseHeader(file.size >= SECTOR ? head : new Uint8Array(0), where);
  const volatile = new Uint8Array(SECTOR);
  // qemu reads the volatile header wherever the offset says: past the end, it reads zeroes (bad magic).
  if ((header.volatileHeaderOffset + 1) * SECTOR <= file.size) await file.read(header.volatileHeaderOffset * SECTOR, volatile);
  checkSeSparseVolatileHeader(volatile, where);
  const needed = Math.ceil(length / (SESPARSE_GT_ENTRIES * GRAIN_BYTES));
  if (header.gdEntries < needed) {
    throw corrupt(`Could not open '${where}': the seSparse grain directory has ${header.gdEntries} entries, but ${length / SECTOR} sectors need ${needed}`);
  }
  const gdBytes = needed * 8;
  if (header.gdOffset < 1 || header.gdOffset * SECTOR + gdBytes > file.size) {
    throw corrupt(`Could not open '${where}': the seSparse grain directory (sector ${header.gdOffset}, ${header.gdEntries} entries) lies outside the file`);
  }
  const gd = new Uint8Array(gdBytes);
  await file.read(header.gdOffset * SECTOR, gd);
  return new SeSparseExtent(file, header, gd, length, backing);
}

export class SeSparseExtent implements Extent {
  readonly writable = false;
  private readonly gd: DataView;
  private readonly tables = new Map<number, DataView>();

  constructor(
    readonly file: BlockNode,
    private readonly header: SeSparseHeader,
    gd: Uint8Array,
    readonly length: number,
    private readonly backing: BackingRead | undefined,
  ) {
    this.gd = new DataView(gd.buffer, gd.byteOffset, gd.byteLength);
  }

  /** The grain table `index`, or undefined when none is allocated (qemu's rules for a directory entry). */
  private async table(index: number): Promise<DataView | undefined> {
    const cached = this.tables.get(index);
    if (cached) return cached;
    const low = this.gd.getUint32(index * 8, true);
    const high = this.gd.getUint32(index * 8 + 4, true);
    if (low === 0 && high === 0) return undefined;
    // Allocated tables have 0x10000000 in the top half and their number in the low half.
    if (high !== 0x10000000) throw corrupt(`${this.file.filename}: seSparse grain directory entry ${index} is invalid (0x${high.toString(16).padStart(8, '0')}${low.toString(16).padStart(8, '0')})`);
    const at = (this.header.gtOffset + low * SESPARSE_GT_SECTORS) * SECTOR;
    if (at + GT_BYTES > this.file.size) throw corrupt(`${this.file.filename}: seSparse grain table ${low} (directory entry ${index}) lies outside the file`);
    const raw = new Uint8Array(GT_BYTES);
    await this.file.read(at, raw);
    if (this.tables.size >= GT_CACHE_LIMIT) this.tables.clear();
    const table = new DataView(raw.buffer);
    this.tables.set(index, table);
    return table;
  }

  private async grain(index: number): Promise<Grain> {
    const table = await this.table(Math.floor(index / SESPARSE_GT_ENTRIES));
    return table ? this.entry(table, index) : { kind: 'unallocated' };
  }

  /** Decode grain `index`'s entry of its table; a data grain's offset is not yet checked against the file's end. */
  private entry(table: DataView, index: number): Grain {
    const slot = (index % SESPARSE_GT_ENTRIES) * 8;
    const low = table.getUint32(slot, true);
    const high = table.getUint32(slot + 4, true);
    const invalid = () => corrupt(`${this.file.filename}: seSparse grain table entry of grain ${index} is invalid (0x${high.toString(16).padStart(8, '0')}${low.toString(16).padStart(8, '0')})`);
    switch (high >>> 28) {
      case 0:
        if (low !== 0 || high !== 0) throw invalid();
        return { kind: 'unallocated' };
      case 1: // unmapped (SCSI UNMAP): reads as zeroes
      case 2:
        return { kind: 'zeroed' };
      case 3: {
        const number = ((high >>> 16) & 0xfff) + ((high & 0xffff) * 2 ** 32 + low) * 4096;
        const offset = (this.header.grainsOffset + number * SESPARSE_GRAIN_SECTORS) * SECTOR;
        if (!Number.isSafeInteger(offset)) throw invalid();
        return { kind: 'data', offset };
      }
      default:
        throw invalid();
    }
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    const reads = new GrainRuns((at, part) => this.file.read(at, part), into);
    for (let done = 0; done < into.length; ) {
      const position = offset + done;
      const index = Math.floor(position / GRAIN_BYTES);
      const inGrain = position - index * GRAIN_BYTES;
      const length = Math.min(GRAIN_BYTES - inGrain, into.length - done);
      const grain = await this.grain(index);
      if (grain.kind === 'data') {
        const at = grain.offset + inGrain;
        if (at + length > this.file.size) throw corrupt(`${this.file.filename}: seSparse grain ${index} (byte ${grain.offset} of the file) lies outside the file`);
        await reads.add(at, done, length);
      } else {
        await reads.flush();
        const part = into.subarray(done, done + length);
        if (grain.kind === 'unallocated' && this.backing) await this.backing(position, part);
        else part.fill(0);
      }
      done += length;
    }
    await reads.flush();
  }

  /** Runs of grains of one kind (data only while the file offsets continue), as qemu's map shows them. */
  async status(offset: number, length: number): Promise<BlockStatus> {
    const first = Math.floor(offset / GRAIN_BYTES);
    const grain = await this.grain(first);
    let end = Math.min(offset + length, (first + 1) * GRAIN_BYTES);
    for (let index = first + 1; end < offset + length; ) {
      // A whole table not allocated is one step.
      const table = await this.table(Math.floor(index / SESPARSE_GT_ENTRIES));
      const step = table ? 1 : SESPARSE_GT_ENTRIES - (index % SESPARSE_GT_ENTRIES);
      const next = table ? this.entry(table, index) : { kind: 'unallocated' as const };
      if (next.kind !== grain.kind) break;
      if (next.kind === 'data' && grain.kind === 'data' && next.offset !== grain.offset + (index - first) * GRAIN_BYTES) break;
      index += step;
      end = Math.min(offset + length, index * GRAIN_BYTES);
    }
    const bytes = end - offset;
    if (grain.kind === 'unallocated') return { length: bytes, zero: !this.backing, data: false, allocated: false };
    if (grain.kind === 'zeroed') return { length: bytes, zero: true, data: false, allocated: true };
    return { length: bytes, zero: false, data: true, allocated: true, offset: grain.offset + (offset - first * GRAIN_BYTES), file: this.file.filename };
  }

  async write(): Promise<void> {
    throw unsupportedOperation(`${this.file.filename}: No write support for seSparse images available`);
  }

  /**
   * qemu's check: every grain entry must be valid and an allocated grain must start inside the file;
   * the first that is not fails it, in qemu's words. A table is checked once, however many directory
   * entries name it, so the work is bounded by the file's size.
   */
  async check(firstSector: number): Promise<string | undefined> {
    const grains = Math.ceil(this.length / GRAIN_BYTES);
    const checked = new Set<number>();
    for (let tableIndex = 0; tableIndex * SESPARSE_GT_ENTRIES < grains; tableIndex++) {
      const sectorOf = (index: number) => firstSector + index * SESPARSE_GRAIN_SECTORS;
      const start = tableIndex * SESPARSE_GT_ENTRIES;
      let table: DataView | undefined;
      try {
        table = await this.table(tableIndex);
      } catch {
        return `ERROR: could not get cluster_offset for sector ${sectorOf(start)}`;
      }
      const number = this.gd.getUint32(tableIndex * 8, true);
      if (!table || checked.has(number)) continue;
      checked.add(number);
      for (let index = start; index < Math.min(grains, start + SESPARSE_GT_ENTRIES); index++) {
        let grain: Grain;
        try {
          grain = this.entry(table, index);
        } catch {
          return `ERROR: could not get cluster_offset for sector ${sectorOf(index)}`;
        }
        if (grain.kind === 'data' && grain.offset >= this.file.size) return `ERROR: cluster offset for sector ${sectorOf(index)} points after EOF`;
      }
    }
    return undefined;
  }

  info(): Record<string, unknown> {
    return { 'virtual-size': this.length, filename: this.file.filename, 'cluster-size': GRAIN_BYTES, format: 'SESPARSE' };
  }

  async flush(): Promise<void> {}
}
