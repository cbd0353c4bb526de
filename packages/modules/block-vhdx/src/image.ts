import type { BlockNode } from '@tessera/core';
import {
  PAYLOAD_FULLY_PRESENT,
  PAYLOAD_PARTIALLY_PRESENT,
  entryOffset,
  entryState,
  makeEntry,
  payloadIndex,
  type BatGeometry,
} from './bat.ts';
import type { DifferencingReader } from './differencing.ts';
import { HEADER_OFFSETS, MiB, encodeHeader, type CurrentHeader } from './header.ts';
import { randomGuid } from './guid.ts';
import { LogWriter } from './log-writer.ts';
import type { VhdxMetadata } from './metadata.ts';
import type { Region, Regions } from './region-table.ts';
import { clusterPieces } from '@tessera/module-kit/format/each-cluster';

/**
 * An open VHDX disk: reads and writes through the BAT. Blocks that are not fully present read
 * as zeroes (not present, undefined, zero, unmapped); a write into one gets a new block at the
 * end of the file (1 MiB aligned, as qemu places them), written before its BAT entry.
 *
 * A new block is reserved (its offset chosen, the file grown over it) and used at once: the
 * write that added it, and any after it, go to its offset while its BAT entry is logged behind
 * them (a dozen small writes one after another). Waiting for that before the next write into the
 * block, as one allocation at a time would, stalled a convert for most of its time on a busy
 * machine, each small write queued behind the thread pool's 2 MiB reads. What reaches the disk
 * keeps qemu's order: the adding write's data, a flush, then the entry; `flush` and closing wait
 * for every entry, so a flushed write is as durable as before.
 */
export class VhdxImage {
  private allocating: Promise<unknown> = Promise.resolve();
  private headerUpdated = false;
  /** Set up for each metadata update; its GUID is in the headers until the update is applied. */
  private logWriter: LogWriter | undefined;
  /** Blocks reserved whose BAT entries are not logged yet: block -> file offset. */
  private readonly reserved = new Map<number, number>();
  /** BAT entries being logged, one after another. */
  private committing: Promise<void> = Promise.resolve();
  /** The first BAT update that failed: the image's metadata is behind its data, so every later write, flush and close fails. */
  private commitFailure: { error: unknown } | undefined;

  constructor(
    readonly file: BlockNode,
    private current: CurrentHeader,
    readonly regions: Regions,
    readonly metadata: VhdxMetadata,
    readonly geometry: BatGeometry,
    readonly bat: BigUint64Array,
    private readonly log: Region,
  ) {}

  get size(): number {
    return this.metadata.virtualSize;
  }

  /** A differencing image's reads, through its parent where it has no sectors of its own. */
  private differencing: DifferencingReader | undefined;
  readDifferencing(reader: DifferencingReader): void {
    this.differencing = reader;
  }

  /** The host offset of the guest byte at `offset`, or undefined where the block reads as zeroes. */
  private hostOffset(offset: number): number | undefined {
    const block = Math.floor(offset / this.geometry.blockSize);
    const entry = this.bat[payloadIndex(this.geometry, block)]!;
    if (entryState(entry) === PAYLOAD_FULLY_PRESENT) return entryOffset(entry) + (offset % this.geometry.blockSize);
    const start = this.reserved.get(block);
    return start === undefined ? undefined : start + (offset % this.geometry.blockSize);
  }

  private pieces(offset: number, length: number): Generator<[at: number, length: number]> {
    return clusterPieces(offset, length, this.geometry.blockSize);
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    for (const [at, n] of this.pieces(offset, into.length)) {
      const part = into.subarray(at - offset, at - offset + n);
      if (this.differencing) {
        await this.differencing.readInBlock(at, part);
        continue;
      }
      const host = this.hostOffset(at);
      if (host === undefined) {
        part.fill(0);
        continue;
      }
      // A fixed image's last block may end past the file (qemu sizes the file to the disk):
      // what lies beyond the file reads as zeroes.
      const inFile = Math.max(0, Math.min(n, this.file.size - host));
      if (inFile > 0) await this.file.read(host, part.subarray(0, inFile));
      part.fill(0, inFile);
    }
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.throwIfCommitFailed();
    await this.markWritten();
    for (const [at, n] of this.pieces(offset, data.length)) {
      const piece = data.subarray(at - offset, at - offset + n);
      const host = this.hostOffset(at) ?? (await this.addBlock(at, piece));
      if (host !== undefined) await this.file.write(host, piece);
    }
  }

  /** Zeroes: a block that reads as zeroes stays as it is; a present one gets zeroes written. */
  async writeZeroes(offset: number, length: number): Promise<void> {
    this.throwIfCommitFailed();
    for (const [at, n] of this.pieces(offset, length)) {
      const host = this.hostOffset(at);
      if (host === undefined) continue;
      await this.markWritten();
      for (let done = 0; done < n; done += MiB) await this.file.write(host + done, new Uint8Array(Math.min(MiB, n - done)));
    }
  }

  /**
   * Reserve the block holding `offset` and write `piece` into it, then log its BAT entry behind
   * (commit). Undefined when this call added the block and wrote the piece; the host offset of
   * `offset` when another write reserved the block meanwhile (the caller writes the piece there).
   */
  private async addBlock(offset: number, piece: Uint8Array): Promise<number | undefined> {
    // One reservation at a time: two writes into one new block must not each add it.
    const next = this.allocating.then<number | { block: number; start: number }>(() => this.hostOffset(offset) ?? this.reserve(offset));
    this.allocating = next.catch(() => undefined);
    const reservation = await next;
    if (typeof reservation === 'number') return reservation;
    const { block, start } = reservation;
    const data = this.file.write(start + (offset % this.geometry.blockSize), piece);
    // The entry after this data (a failed write still leaves a block of zeroes, safe to map).
    this.committing = this.committing.then(async () => {
      await data.catch(() => undefined);
      if (!this.commitFailure) await this.commit(block, start).catch((error: unknown) => void (this.commitFailure = { error }));
    });
    await data;
    return undefined;
  }

  /** A new block at the 1 MiB aligned end of the file, the file grown over it (so the block lies inside the file, as qemu-img check wants). */
  private async reserve(offset: number): Promise<{ block: number; start: number }> {
    this.throwIfCommitFailed();
    const { blockSize } = this.geometry;
    const block = Math.floor(offset / blockSize);
    const start = Math.ceil(this.file.size / MiB) * MiB;
    if (!this.file.resize) throw new Error(`${this.file.filename}: the storage cannot grow, so no block can be added`);
    await this.file.resize(start + blockSize, { shrink: false });
    this.reserved.set(block, start);
    return { block, start };
  }

  /**
   * Log block `block`'s BAT entry (mapping it at `start`), as qemu orders it: the data written
   * before it flushed first, so a crash between leaves at worst an unreferenced block, and a
   * mapped block always holds its data.
   */
  private async commit(block: number, start: number): Promise<void> {
    await this.file.flush();
    const index = payloadIndex(this.geometry, block);
    const entry = makeEntry(PAYLOAD_FULLY_PRESENT, start);
    // The BAT's 4 KiB sector holding the entry, from the table in memory (what is on disk: every
    // entry is logged in turn), with the entry changed.
    const first = Math.floor((index * 8) / 4096) * 512;
    const sector = new Uint8Array(4096);
    const view = new DataView(sector.buffer);
    for (let i = 0; i < 512 && first + i < this.bat.length; i++) view.setBigUint64(i * 8, first + i === index ? entry : this.bat[first + i]!, true);
    await (await this.openLog()).write([{ fileOffset: this.regions.bat.offset + first * 8, data: sector }]);
    // Applied: the headers name no log again, as qemu leaves them after each update, so that
    // a reader of the image in use (`info -U`) finds nothing to replay.
    await this.closeLog();
    this.bat[index] = entry;
    this.reserved.delete(block);
  }

  /** Every BAT entry logged (flush and close wait for them); a failed one is thrown. */
  async settle(): Promise<void> {
    await this.committing;
    this.throwIfCommitFailed();
  }

  private throwIfCommitFailed(): void {
    if (this.commitFailure) throw this.commitFailure.error;
  }

  /** The log, named in the headers by a new GUID (so a crash from now on leaves it to replay). */
  private async openLog(): Promise<LogWriter> {
    if (this.logWriter) return this.logWriter;
    const logGuid = randomGuid();
    await this.updateHeaders({ logGuid });
    this.logWriter = new LogWriter(this.file, this.log, logGuid);
    return this.logWriter;
  }

  /** Every logged update is applied: the headers name no log any more. */
  async closeLog(): Promise<void> {
    if (this.logWriter) await this.updateHeaders({ logGuid: new Uint8Array(16) });
    this.logWriter = undefined;
  }

  /**
   * Before the first write, both headers get a new file and data write GUID and a higher
   * sequence number, as the specification asks of a writer (and qemu does): readers that cached
   * the disk's content see that it changed.
   */
  private async markWritten(): Promise<void> {
    if (this.headerUpdated) return;
    this.headerUpdated = true;
    await this.updateHeaders({ fileWriteGuid: randomGuid(), dataWriteGuid: randomGuid() });
  }

  /** Write the header twice (the older slot first), each with the next sequence number. */
  async updateHeaders(change: Partial<CurrentHeader['header']>): Promise<void> {
    let { header, slot } = this.current;
    for (let i = 0; i < 2; i++) {
      const other = slot === 0 ? 1 : 0;
      header = { ...header, ...change, sequenceNumber: header.sequenceNumber + 1n };
      await this.file.write(HEADER_OFFSETS[other], encodeHeader(header));
      await this.file.flush();
      slot = other;
    }
    this.current = { header, slot };
  }

  /** Refuse what this driver cannot read: blocks whose sectors come partly from a parent. */
  static hasPartialBlocks(bat: BigUint64Array, geometry: BatGeometry): boolean {
    for (let block = 0; block < geometry.payloadBlocks; block++) {
      if (entryState(bat[payloadIndex(geometry, block)]!) === PAYLOAD_PARTIALLY_PRESENT) return true;
    }
    return false;
  }
}
