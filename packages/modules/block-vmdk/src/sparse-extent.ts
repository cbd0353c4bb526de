/**
 * A hosted sparse extent (monolithicSparse, the -sNNN files of twoGbMaxExtentSparse, and
 * streamOptimized read back): guest grains found through the grain directory and grain tables,
 * stored plain or (streamOptimized) compressed behind grain markers.
 */
import type { BlockNode, BlockStatus } from '@tessera/core';
import type { Extent } from './extent.ts';
import { GrainRuns } from './grain-runs.ts';
import { corrupt, unsupportedOperation } from './errors.ts';
import { GRAIN_MARKER_BYTES, inflateGrain, maxCompressedBytes } from './grain-codec.ts';
import { ReusedZlib } from './reused-zlib.ts';
import { decodeEntries, encodeEntries, type SparseLayout } from './grain-directory.ts';
import { FLAG_COMPRESSED, FLAG_MARKERS, FLAG_ZERO_GRAIN, SECTOR } from './sparse-header.ts';

/** Grain table entry of a grain recorded as zeroes (with the zeroed-grain flag). */
const GTE_ZEROED = 1;
/** Grain tables kept in memory (2 KiB each with 512 entries). */
const GT_CACHE_LIMIT = 4096;
/** Compressed grains closer than this in the file are fetched with one read. */
const READ_GAP = 256 * 1024;
/** Compressed reads get buffers of at least this size (a 2 MiB read of grains and one record more), so buffers fit most reads. */
const READ_BUFFER_BYTES = 2 * 1024 * 1024 + 128 * 1024;

/** Reads guest bytes of the backing image at the extent's position (absent: zeroes). */
export type BackingRead = (extentOffset: number, into: Uint8Array) => Promise<void>;

interface CompressedPiece {
  readonly at: number; // marker offset in the file
  readonly into: Uint8Array;
  readonly inGrain: number;
  readonly grain: number;
}

export class SparseExtent implements Extent {
  readonly length: number;
  readonly compressed: boolean;
  private readonly grainBytes: number;
  private readonly gtEntries: number;
  private readonly zeroGrains: boolean;
  private readonly tables = new Map<number, Uint32Array>();
  private nextSector: number;
  private queue: Promise<unknown> = Promise.resolve();
  /** Compressed grains: the one inflate state, and the last grain read in part (the next read likely wants its rest). */
  private inflater: ReusedZlib | undefined;
  private lastGrain: { index: number; data: Uint8Array } | undefined;
  /** Buffers of compressed reads, free to be reused (a few: one per read in flight). */
  private readonly readBuffers: ArrayBuffer[] = [];

  constructor(
    readonly file: BlockNode,
    private readonly layout: SparseLayout,
    length: number,
    readonly writable: boolean,
    private readonly format: string,
    private readonly backing: BackingRead | undefined,
  ) {
    const { header } = layout;
    this.length = length;
    this.grainBytes = header.grainSectors * SECTOR;
    this.gtEntries = header.gtEntries;
    this.compressed = (header.flags & FLAG_COMPRESSED) !== 0;
    this.zeroGrains = (header.flags & FLAG_ZERO_GRAIN) !== 0;
    this.nextSector = Math.ceil(file.size / SECTOR);
    if (this.compressed && !(header.flags & FLAG_MARKERS)) {
      throw corrupt(`Could not open '${file.filename}': compressed grains without grain markers are not supported`);
    }
  }

  /** The grain table entry of a grain (0: unallocated). */
  private async entry(grain: number): Promise<number> {
    const table = await this.table(Math.floor(grain / this.gtEntries));
    return table ? table[grain % this.gtEntries]! : 0;
  }

  private async table(index: number): Promise<Uint32Array | undefined> {
    const cached = this.tables.get(index);
    if (cached) return cached;
    const sector = this.layout.gd[index] ?? 0;
    if (sector === 0) return undefined;
    const bytes = this.gtEntries * 4;
    if (sector * SECTOR + bytes > this.file.size) throw corrupt(`${this.file.filename}: grain table ${index} (sector ${sector}) lies outside the file`);
    const raw = new Uint8Array(bytes);
    await this.file.read(sector * SECTOR, raw);
    if (this.tables.size >= GT_CACHE_LIMIT) this.tables.clear();
    const table = decodeEntries(raw);
    this.tables.set(index, table);
    return table;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    const compressed: CompressedPiece[] = [];
    const reads = new GrainRuns((at, part) => this.file.read(at, part), into);
    for (let done = 0; done < into.length; ) {
      const position = offset + done;
      const grain = Math.floor(position / this.grainBytes);
      const inGrain = position - grain * this.grainBytes;
      const length = Math.min(this.grainBytes - inGrain, into.length - done);
      const part = into.subarray(done, done + length);
      const entry = await this.entry(grain);
      if (entry === 0 || (entry === GTE_ZEROED && this.zeroGrains)) {
        await reads.flush();
        if (entry === 0 && this.backing) await this.backing(position, part);
        else part.fill(0);
      } else if (this.compressed) {
        compressed.push({ at: entry * SECTOR, into: part, inGrain, grain });
      } else {
        const at = entry * SECTOR + inGrain;
        if (at + length > this.file.size) throw corrupt(`${this.file.filename}: grain ${grain} (sector ${entry}) lies outside the file`);
        await reads.add(at, done, length);
      }
      done += length;
    }
    await reads.flush();
    if (compressed.length) await this.readCompressed(compressed);
  }

  /** Fetch neighbouring compressed grains with one read each group, and inflate them. */
  private async readCompressed(pieces: CompressedPiece[]): Promise<void> {
    const maxRecord = GRAIN_MARKER_BYTES + maxCompressedBytes(this.grainBytes);
    for (let first = 0; first < pieces.length; ) {
      const cached = this.lastGrain;
      if (cached && cached.index === pieces[first]!.grain) {
        const piece = pieces[first++]!;
        piece.into.set(cached.data.subarray(piece.inGrain, piece.inGrain + piece.into.length));
        continue;
      }
      let last = first;
      while (last + 1 < pieces.length && pieces[last + 1]!.at > pieces[last]!.at && pieces[last + 1]!.at - pieces[last]!.at <= READ_GAP) last++;
      const start = pieces[first]!.at;
      if (start + GRAIN_MARKER_BYTES > this.file.size) throw corrupt(`${this.file.filename}: compressed grain at byte ${start} lies outside the file`);
      const end = Math.min(this.file.size, pieces[last]!.at + maxRecord);
      const buffer = this.readBuffer(end - start);
      await this.file.read(start, buffer);
      const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      for (let i = first; i <= last; i++) {
        const piece = pieces[i]!;
        const at = piece.at - start;
        if (at + GRAIN_MARKER_BYTES > buffer.length) throw corrupt(`${this.file.filename}: compressed grain at byte ${piece.at} lies outside the file`);
        const size = view.getUint32(at + 8, true);
        if (size === 0 || size > maxRecord - GRAIN_MARKER_BYTES || at + GRAIN_MARKER_BYTES + size > buffer.length) {
          throw corrupt(`${this.file.filename}: compressed grain at byte ${piece.at} has an impossible size (${size} bytes)`);
        }
        this.inflate(piece, buffer.subarray(at + GRAIN_MARKER_BYTES, at + GRAIN_MARKER_BYTES + size));
      }
      this.readBuffers.push(buffer.buffer as ArrayBuffer);
      first = last + 1;
    }
  }

  /**
   * A buffer for `length` bytes of compressed grains, from those reads finished with: a new 2 MiB
   * buffer for every read of a convert made most of its CPU time garbage collection.
   */
  private readBuffer(length: number): Uint8Array {
    while (this.readBuffers.length) {
      const reused = this.readBuffers.pop()!;
      if (reused.byteLength >= length) return new Uint8Array(reused, 0, length);
    }
    return new Uint8Array(new ArrayBuffer(Math.max(length, READ_BUFFER_BYTES)), 0, length);
  }

  /** Inflate a piece's grain: a whole grain straight into the caller's buffer, part of one through lastGrain. */
  private inflate(piece: CompressedPiece, data: Uint8Array): void {
    this.inflater ??= new ReusedZlib();
    if (piece.into.length === this.grainBytes) {
      inflateGrain(this.inflater, data, piece.into, this.file.filename);
      return;
    }
    // The cached grain's buffer is reused (copies from it are taken at once, never across an
    // await); uncached while overwritten, so a failed inflate leaves no half grain cached.
    const grain = this.lastGrain?.data ?? new Uint8Array(this.grainBytes);
    this.lastGrain = undefined;
    inflateGrain(this.inflater, data, grain, this.file.filename);
    piece.into.set(grain.subarray(piece.inGrain, piece.inGrain + piece.into.length));
    this.lastGrain = { index: piece.grain, data: grain };
  }

  async status(offset: number, length: number): Promise<BlockStatus> {
    const first = Math.floor(offset / this.grainBytes);
    const entry = await this.entry(first);
    const kind = this.kindOf(entry);
    let end = Math.min(offset + length, (first + 1) * this.grainBytes);
    // Extend over following grains of the same kind (data only where the file offsets continue).
    // A grain table not allocated is one step (a COWD disk of 1-sector grains has billions of grains).
    for (let grain = first + 1; end < offset + length; ) {
      // A cached table without an await: a run of compressed grains is walked grain by grain.
      const tableIndex = Math.floor(grain / this.gtEntries);
      const table = this.tables.get(tableIndex) ?? (await this.table(tableIndex));
      const next = table ? table[grain % this.gtEntries]! : 0;
      if (this.kindOf(next) !== kind) break;
      if (kind === 'data' && next !== entry + (grain - first) * (this.grainBytes / SECTOR)) break;
      grain += table ? 1 : this.gtEntries - (grain % this.gtEntries);
      end = Math.min(offset + length, grain * this.grainBytes);
    }
    const bytes = end - offset;
    switch (kind) {
      case 'unallocated':
        return { length: bytes, zero: !this.backing, data: false, allocated: false };
      case 'zeroed':
        return { length: bytes, zero: true, data: false, allocated: true };
      case 'compressed':
        return { length: bytes, zero: false, data: true, allocated: true };
      case 'data':
        return { length: bytes, zero: false, data: true, allocated: true, offset: entry * SECTOR + (offset - first * this.grainBytes), file: this.file.filename };
    }
  }

  private kindOf(entry: number): 'unallocated' | 'zeroed' | 'compressed' | 'data' {
    if (entry === 0) return 'unallocated';
    if (entry === GTE_ZEROED && this.zeroGrains) return 'zeroed';
    return this.compressed ? 'compressed' : 'data';
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    return this.serialized(() => this.writeGrains(offset, data));
  }

  /** Metadata updates (allocation, table entries) happen one request at a time. */
  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async writeGrains(offset: number, data: Uint8Array): Promise<void> {
    if (this.compressed) {
      throw unsupportedOperation(`${this.file.filename}: can't write to allocated cluster for streamOptimized (a streamOptimized image is written once, in order, after its creation)`);
    }
    const changed = new Map<number, { from: number; to: number }>();
    const writes = new GrainRuns((at, part) => this.file.write(at, part), data);
    for (let done = 0; done < data.length; ) {
      const position = offset + done;
      const grain = Math.floor(position / this.grainBytes);
      const inGrain = position - grain * this.grainBytes;
      const length = Math.min(this.grainBytes - inGrain, data.length - done);
      const tableIndex = Math.floor(grain / this.gtEntries);
      const table = await this.table(tableIndex);
      if (!table) throw unsupportedOperation(`${this.file.filename}: grain table ${tableIndex} is not allocated; this driver writes only images whose grain tables exist (as qemu-img and VMware create them)`);
      let entry = table[grain % this.gtEntries]!;
      if (entry === 0 || (entry === GTE_ZEROED && this.zeroGrains)) {
        // A new grain at the end of the file; a partial write fills the rest from below.
        const sector = this.nextSector;
        this.nextSector += this.grainBytes / SECTOR;
        if (length < this.grainBytes) {
          await writes.flush();
          const whole = new Uint8Array(this.grainBytes);
          if (entry === 0 && this.backing) await this.backing(grain * this.grainBytes, whole.subarray(0, Math.min(this.grainBytes, this.length - grain * this.grainBytes)));
          whole.set(data.subarray(done, done + length), inGrain);
          await this.file.write(sector * SECTOR, whole);
        } else {
          await writes.add(sector * SECTOR, done, length);
        }
        entry = sector;
        table[grain % this.gtEntries] = entry;
        const range = changed.get(tableIndex);
        const slot = grain % this.gtEntries;
        changed.set(tableIndex, { from: Math.min(range?.from ?? slot, slot), to: Math.max(range?.to ?? slot, slot) });
      } else {
        await writes.add(entry * SECTOR + inGrain, done, length);
      }
      done += length;
    }
    await writes.flush();
    await this.storeEntries(changed);
  }

  /** Write changed grain table entries, to the table and its redundant copy. */
  private async storeEntries(changed: Map<number, { from: number; to: number }>): Promise<void> {
    for (const [index, { from, to }] of changed) {
      const table = this.tables.get(index)!;
      const bytes = encodeEntries(table.subarray(from, to + 1));
      for (const directory of [this.layout.gd, this.layout.rgd]) {
        const sector = directory?.[index] ?? 0;
        if (sector !== 0) await this.file.write(sector * SECTOR + from * 4, bytes);
      }
    }
  }

  /** With the zeroed-grain flag, whole grains become zero entries; the rest is written as zeroes by the caller. */
  zero(offset: number, length: number): Promise<boolean> {
    if (!this.zeroGrains || this.compressed) return Promise.resolve(false);
    return this.serialized(async () => {
      const changed = new Map<number, { from: number; to: number }>();
      const end = offset + length;
      for (let position = offset; position < end; ) {
        const grain = Math.floor(position / this.grainBytes);
        const grainEnd = Math.min((grain + 1) * this.grainBytes, this.length);
        const stop = Math.min(end, grainEnd);
        if (position === grain * this.grainBytes && stop === grainEnd) {
          const tableIndex = Math.floor(grain / this.gtEntries);
          const table = await this.table(tableIndex);
          if (!table) throw unsupportedOperation(`${this.file.filename}: grain table ${tableIndex} is not allocated`);
          const slot = grain % this.gtEntries;
          table[slot] = GTE_ZEROED;
          const range = changed.get(tableIndex);
          changed.set(tableIndex, { from: Math.min(range?.from ?? slot, slot), to: Math.max(range?.to ?? slot, slot) });
        } else {
          await this.writeGrains(position, new Uint8Array(stop - position));
        }
        position = stop;
      }
      await this.storeEntries(changed);
      return true;
    });
  }

  async check(firstSector: number): Promise<string | undefined> {
    const grainSectors = this.grainBytes / SECTOR;
    const grains = Math.ceil(this.length / this.grainBytes);
    for (let index = 0; index * this.gtEntries < grains; index++) {
      const sector = firstSector + index * this.gtEntries * grainSectors;
      let table: Uint32Array | undefined;
      try {
        table = await this.table(index);
      } catch {
        return `ERROR: could not get cluster_offset for sector ${sector}`;
      }
      if (!table) continue;
      for (let slot = 0; slot < this.gtEntries && index * this.gtEntries + slot < grains; slot++) {
        const entry = table[slot]!;
        if (entry === 0 || (entry === GTE_ZEROED && this.zeroGrains)) continue;
        if (entry * SECTOR >= this.file.size) return `ERROR: cluster offset for sector ${sector + slot * grainSectors} points after EOF`;
      }
    }
    return undefined;
  }

  info(): Record<string, unknown> {
    return {
      ...(this.compressed ? { compressed: true } : {}),
      'virtual-size': this.length,
      filename: this.file.filename,
      'cluster-size': this.grainBytes,
      format: this.format,
    };
  }

  flush(): Promise<void> {
    return this.serialized(() => this.file.flush());
  }
}
