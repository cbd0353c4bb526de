import type { BlockNode, BlockStatus } from '@tessera/core';
import { UNALLOCATED, type DynamicLayout } from './layout.ts';
import { clusterPieces } from '@tessera/module-kit/format/each-cluster';

/**
 * A dynamic VHD's blocks: the BAT maps each block of the disk to a sector bitmap and the block's
 * data after it, or to nothing (the block reads as zeroes). As qemu, reads do not consult the
 * bitmaps (a dynamic disk's unmarked sectors hold zeroes) and a new block's bitmap marks every
 * sector present, so no bitmap needs updating on later writes.
 */
export class DynamicDisk {
  private freeOffset: number;
  private allocating: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly file: BlockNode,
    private readonly layout: DynamicLayout,
    /** The footer, rewritten at the file's new end each time a block is added. */
    private readonly footer: Uint8Array,
    readonly size: number,
  ) {
    this.freeOffset = layout.freeOffset;
  }

  get blockSize(): number {
    return this.layout.blockSize;
  }

  /** File offset of the guest byte at `offset`, or undefined where no block is allocated. */
  private hostOffset(offset: number): number | undefined {
    const { blockSize, bitmapSize, bat } = this.layout;
    const index = Math.floor(offset / blockSize);
    const sector = index < bat.length ? bat[index]! : UNALLOCATED;
    if (sector === UNALLOCATED) return undefined;
    return sector * 512 + bitmapSize + (offset % blockSize);
  }

  /** Split a guest range into pieces that each lie inside one block. */
  private pieces(offset: number, length: number): Generator<[at: number, length: number]> {
    return clusterPieces(offset, length, this.layout.blockSize);
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    for (const [at, n] of this.pieces(offset, into.length)) {
      const part = into.subarray(at - offset, at - offset + n);
      const host = this.hostOffset(at);
      if (host === undefined) part.fill(0);
      else await this.file.read(host, part);
    }
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    for (const [at, n] of this.pieces(offset, data.length)) {
      const host = this.hostOffset(at) ?? (await this.allocate(at));
      await this.file.write(host, data.subarray(at - offset, at - offset + n));
    }
  }

  /** Zeroes: an unallocated block already reads as zeroes; an allocated one gets them written. */
  async writeZeroes(offset: number, length: number): Promise<void> {
    for (const [at, n] of this.pieces(offset, length)) {
      const host = this.hostOffset(at);
      if (host !== undefined) await this.file.write(host, new Uint8Array(n));
    }
  }

  /**
   * Add the block holding `offset` at the end of the file, in qemu's order: its bitmap (every
   * sector present), the footer moved past it, then the BAT entry — so a crash between the steps
   * leaves at worst an unreferenced block, never a BAT entry pointing past the footer.
   */
  private allocate(offset: number): Promise<number> {
    // One allocation at a time: two writes into one new block must not each add it.
    const next = this.allocating.then(() => this.hostOffset(offset) ?? this.addBlock(offset));
    this.allocating = next.catch(() => undefined);
    return next;
  }

  private async addBlock(offset: number): Promise<number> {
    const { blockSize, bitmapSize, bat, batOffset } = this.layout;
    const index = Math.floor(offset / blockSize);
    const start = this.freeOffset;
    if (start / 512 >= UNALLOCATED) throw new Error(`${this.file.filename}: the VHD is full (a block sector number would not fit in the BAT)`);
    await this.file.write(start, new Uint8Array(bitmapSize).fill(0xff));
    this.freeOffset = start + bitmapSize + blockSize;
    await this.file.write(this.freeOffset, this.footer);
    const entry = new Uint8Array(4);
    new DataView(entry.buffer).setUint32(0, start / 512);
    await this.file.write(batOffset + index * 4, entry);
    bat[index] = start / 512;
    return start + bitmapSize + (offset % blockSize);
  }

  /** As qemu: an allocated block is data at its file offset; unallocated blocks read as zeroes. */
  blockStatus(offset: number, length: number): BlockStatus {
    const { blockSize } = this.layout;
    const host = this.hostOffset(offset);
    if (host !== undefined) {
      return { length: Math.min(length, blockSize - (offset % blockSize)), zero: false, data: true, offset: host, allocated: true, file: this.file.filename };
    }
    let end = offset;
    while (end < offset + length && this.hostOffset(end) === undefined) end = Math.min(offset + length, (Math.floor(end / blockSize) + 1) * blockSize);
    return { length: end - offset, zero: true, data: false, allocated: true };
  }

  /** Bytes of the file in use: up to the footer's end. */
  get fileEnd(): number {
    return this.freeOffset + this.footer.length;
  }
}
