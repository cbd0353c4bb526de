/**
 * Reading a differencing VHDX (VHDX specification 2.5.1): a block fully present reads from the
 * file; partially present, sector by sector as its chunk's sector bitmap says (a set bit: the
 * file, else the parent); zero reads as zeroes; any other state reads from the parent.
 */
import type { BlockNode } from '@tessera/core';
import { PAYLOAD_FULLY_PRESENT, PAYLOAD_PARTIALLY_PRESENT, PAYLOAD_ZERO, entryOffset, entryState, payloadIndex, type BatGeometry } from './bat.ts';

/** A sector bitmap block covers one chunk: 1 MiB, one bit per logical sector. */
const BITMAP_BLOCK = 1024 * 1024;
/** Bitmaps kept at once (reads come in guest order): memory stays bounded on a disk of many chunks. */
const CACHED_BITMAPS = 4;

export class DifferencingReader {
  /** Each chunk's bitmap, read once when first needed. */
  private readonly bitmaps = new Map<number, Promise<Uint8Array>>();

  constructor(
    private readonly file: BlockNode,
    private readonly parent: BlockNode,
    private readonly geometry: BatGeometry,
    private readonly bat: BigUint64Array,
    private readonly sectorSize: number,
  ) {}

  /** The BAT index of chunk `chunk`'s sector bitmap entry (after its payload blocks). */
  static bitmapIndex(geometry: BatGeometry, chunk: number): number {
    return chunk * (geometry.chunkRatio + 1) + geometry.chunkRatio;
  }

  /** Read `into` from guest `offset`, lying inside one payload block. */
  async readInBlock(offset: number, into: Uint8Array): Promise<void> {
    const { blockSize } = this.geometry;
    const block = Math.floor(offset / blockSize);
    const entry = this.bat[payloadIndex(this.geometry, block)]!;
    const state = entryState(entry);
    const host = entryOffset(entry) + (offset % blockSize);
    if (state === PAYLOAD_FULLY_PRESENT) return this.readFile(host, into);
    if (state === PAYLOAD_ZERO) return void into.fill(0);
    if (state !== PAYLOAD_PARTIALLY_PRESENT) return this.readParent(offset, into);
    const bitmap = await this.bitmap(Math.floor(block / this.geometry.chunkRatio));
    const chunkStart = Math.floor(block / this.geometry.chunkRatio) * this.geometry.chunkRatio * blockSize;
    // Runs of sectors with the same bit, each read from where it lies.
    for (let done = 0; done < into.length; ) {
      const sector = Math.floor((offset + done - chunkStart) / this.sectorSize);
      const present = bitOf(bitmap, sector);
      let end = done + (this.sectorSize - ((offset + done) % this.sectorSize));
      while (end < into.length && bitOf(bitmap, Math.floor((offset + end - chunkStart) / this.sectorSize)) === present) end += this.sectorSize;
      end = Math.min(end, into.length);
      const part = into.subarray(done, end);
      if (present) await this.readFile(host + done, part);
      else await this.readParent(offset + done, part);
      done = end;
    }
  }

  private async readFile(host: number, into: Uint8Array): Promise<void> {
    const inFile = Math.max(0, Math.min(into.length, this.file.size - host));
    if (inFile > 0) await this.file.read(host, into.subarray(0, inFile));
    into.fill(0, inFile);
  }

  /** The parent's bytes; past a shorter parent's end, zeroes. */
  private async readParent(offset: number, into: Uint8Array): Promise<void> {
    const available = Math.max(0, Math.min(into.length, this.parent.size - offset));
    if (available > 0) await this.parent.read(offset, into.subarray(0, available));
    into.fill(0, available);
  }

  private bitmap(chunk: number): Promise<Uint8Array> {
    let bitmap = this.bitmaps.get(chunk);
    if (!bitmap) {
      const entry = this.bat[DifferencingReader.bitmapIndex(this.geometry, chunk)]!;
      const bytes = new Uint8Array(BITMAP_BLOCK);
      // Not present: no sector of the chunk is in this file.
      bitmap = entryState(entry) === PAYLOAD_FULLY_PRESENT ? this.readFile(entryOffset(entry), bytes).then(() => bytes) : Promise.resolve(bytes);
      if (this.bitmaps.size >= CACHED_BITMAPS) this.bitmaps.delete(this.bitmaps.keys().next().value!);
      this.bitmaps.set(chunk, bitmap);
    }
    return bitmap;
  }
}

const bitOf = (bitmap: Uint8Array, sector: number): boolean => ((bitmap[sector >> 3]! >> (sector & 7)) & 1) === 1;
