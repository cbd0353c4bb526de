/**
 * Writing a streamOptimized extent in one pass, as VMware's stream layout has it: after the
 * header and descriptor, each grain as a marker and its deflated bytes, each grain table behind a
 * GT marker once the writes have passed its range, then the GD marker and directory, the footer
 * marker and footer (the header with the directory's offset), and the end-of-stream marker.
 * Writes must come in guest order (convert's); a grain already written cannot be written again.
 */
import type { BlockNode, BlockStatus } from '@tessera/core';
import type { Extent } from './extent.ts';
import { unsupportedOperation } from './errors.ts';
import { DEFLATE_LEVEL, MARKER_EOS, MARKER_FOOTER, MARKER_GD, MARKER_GT, deflateGrain, deflateGrainRecord, grainRecord, metadataMarker } from './grain-codec.ts';
import { ReusedZlib } from './reused-zlib.ts';
import { encodeEntries } from './grain-directory.ts';
import { SECTOR, encodeSparseHeader, type SparseHeader } from './sparse-header.ts';

/** Grains deflated and waiting to be laid out in order, each 64 KiB in and out at most. */
const DEFLATE_WINDOW = 8;
/**
 * Grains deflated on the thread pool at once; beyond that this thread deflates the next one itself
 * (as qemu-img does every grain), so the pool and this thread work together, and on a busy machine
 * nothing waits on a queue of pool work.
 */
const POOL_DEFLATES = 2;
/** Output is gathered and written in pieces of this size. */
const OUTPUT_CHUNK = 1024 * 1024;

export class StreamExtent implements Extent {
  readonly writable = true;
  readonly compressed = true;
  private readonly grainBytes: number;
  private readonly gtEntries: number;
  private readonly gd: Uint32Array;
  /** The grain table being filled, and its index. */
  private table: Uint32Array;
  private tableIndex = 0;
  /** The grain being gathered (guest writes may cover parts of it). */
  private grain = -1;
  private grainData: Uint8Array;
  private grainDirty = false;
  private position: number; // where the next record goes in the file
  private output: Uint8Array[] = [];
  private outputBytes = 0;
  private deflating: Array<Promise<{ grain: number; record: Uint8Array }>> = [];
  /** This thread's deflate state, reused grain after grain. */
  private deflater: ReusedZlib | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private written = false;
  private inPool = 0;

  constructor(
    readonly file: BlockNode,
    private readonly header: SparseHeader,
    readonly length: number,
  ) {
    this.grainBytes = header.grainSectors * SECTOR;
    this.gtEntries = header.gtEntries;
    this.gd = new Uint32Array(Math.ceil(header.capacity / (header.grainSectors * header.gtEntries)));
    this.table = new Uint32Array(this.gtEntries);
    this.grainData = new Uint8Array(this.grainBytes);
    this.position = header.overheadSectors * SECTOR;
  }

  async read(): Promise<void> {
    throw unsupportedOperation(`${this.file.filename}: a streamOptimized image being written cannot be read until it is closed`);
  }

  async status(_offset: number, length: number): Promise<BlockStatus> {
    return { length, zero: false, data: true, allocated: true };
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    const result = this.queue.then(() => this.append(offset, data));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Zeroes need no record: a grain never written reads as zeroes. Only the grain being gathered is touched. */
  async zero(offset: number, length: number): Promise<boolean> {
    const result = this.queue.then(async () => {
      const first = Math.floor(offset / this.grainBytes);
      if (first < this.grain) this.refuse(offset);
      if (first === this.grain) {
        const from = offset - first * this.grainBytes;
        this.grainData.fill(0, from, Math.min(this.grainBytes, from + length));
      }
      return true;
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  private refuse(offset: number): never {
    throw unsupportedOperation(`${this.file.filename}: can't write to allocated cluster for streamOptimized (offset ${offset} is behind what was already streamed; streamOptimized images are written in order)`);
  }

  private async append(offset: number, data: Uint8Array): Promise<void> {
    this.written = true;
    for (let done = 0; done < data.length; ) {
      const position = offset + done;
      const grain = Math.floor(position / this.grainBytes);
      if (grain < this.grain) this.refuse(position);
      if (grain !== this.grain) await this.startGrain(grain);
      const inGrain = position - grain * this.grainBytes;
      const length = Math.min(this.grainBytes - inGrain, data.length - done);
      this.grainData.set(data.subarray(done, done + length), inGrain);
      this.grainDirty = true;
      done += length;
    }
  }

  /** Hand the gathered grain to deflate, and start gathering `grain`. */
  private async startGrain(grain: number): Promise<void> {
    await this.endGrain();
    this.grain = grain;
  }

  private async endGrain(): Promise<void> {
    if (this.grain < 0 || !this.grainDirty) return;
    const lba = this.grain * (this.grainBytes / SECTOR);
    const data = this.grainData;
    this.grainData = new Uint8Array(this.grainBytes);
    this.grainDirty = false;
    if (isZero(data)) return; // an all-zero grain stays unallocated
    const pooled = this.inPool < POOL_DEFLATES;
    if (pooled) this.inPool++;
    const grain = this.grain;
    if (pooled) {
      this.deflating.push(deflateGrain(data).then((bytes) => ({ grain, record: grainRecord(lba, bytes) })).finally(() => this.inPool--));
    } else {
      this.deflater ??= new ReusedZlib(DEFLATE_LEVEL);
      this.deflating.push(Promise.resolve({ grain, record: deflateGrainRecord(this.deflater, lba, data) }));
    }
    if (this.deflating.length >= DEFLATE_WINDOW) await this.placeDeflated(DEFLATE_WINDOW / 2);
  }

  /** Lay out the oldest deflated grains in order, leaving `keep` under way. */
  private async placeDeflated(keep: number): Promise<void> {
    while (this.deflating.length > keep) {
      const { grain, record } = await this.deflating.shift()!;
      const tableIndex = Math.floor(grain / this.gtEntries);
      if (tableIndex !== this.tableIndex) await this.endTable(tableIndex);
      this.table[grain % this.gtEntries] = this.position / SECTOR;
      await this.emit(record);
    }
  }

  /** Store the filled grain table (if it has any grain) behind a GT marker, and start table `next`. */
  private async endTable(next: number): Promise<void> {
    if (this.table.some((entry) => entry !== 0)) {
      const sectors = (this.gtEntries * 4) / SECTOR;
      await this.emit(metadataMarker(MARKER_GT, Math.ceil(sectors)));
      this.gd[this.tableIndex] = this.position / SECTOR;
      await this.emit(padded(encodeEntries(this.table)));
      this.table = new Uint32Array(this.gtEntries);
    }
    this.tableIndex = next;
  }

  private async emit(bytes: Uint8Array): Promise<void> {
    this.output.push(bytes);
    this.outputBytes += bytes.length;
    this.position += bytes.length;
    if (this.outputBytes >= OUTPUT_CHUNK) await this.drain();
  }

  private async drain(): Promise<void> {
    if (this.outputBytes === 0) return;
    const start = this.position - this.outputBytes;
    const joined = this.output.length === 1 ? this.output[0]! : Buffer.concat(this.output, this.outputBytes);
    this.output = [];
    this.outputBytes = 0;
    await this.file.write(start, joined);
  }

  info(): Record<string, unknown> {
    return { compressed: true, 'virtual-size': this.length, filename: this.file.filename, 'cluster-size': this.grainBytes, format: '' };
  }

  async flush(): Promise<void> {
    await this.queue;
    await this.file.flush();
  }

  /** Close the stream: the last grain and table, the directory, footer and end-of-stream marker. */
  async finish(): Promise<void> {
    await this.queue;
    if (!this.written) return;
    await this.endGrain();
    await this.placeDeflated(0);
    await this.endTable(this.tableIndex + 1);
    const gdBytes = padded(encodeEntries(this.gd));
    await this.emit(metadataMarker(MARKER_GD, gdBytes.length / SECTOR));
    const gdSector = this.position / SECTOR;
    await this.emit(gdBytes);
    await this.emit(metadataMarker(MARKER_FOOTER, 1));
    await this.emit(encodeSparseHeader({ ...this.header, gdOffset: gdSector }));
    await this.emit(metadataMarker(MARKER_EOS, 0));
    await this.drain();
    this.written = false;
  }
}

function padded(bytes: Uint8Array): Uint8Array {
  const length = Math.ceil(bytes.length / SECTOR) * SECTOR;
  if (length === bytes.length) return bytes;
  const out = new Uint8Array(length);
  out.set(bytes);
  return out;
}

let zeroes = new Uint8Array(0);
function isZero(data: Uint8Array): boolean {
  if (zeroes.length !== data.length) zeroes = new Uint8Array(data.length);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).equals(zeroes);
}
