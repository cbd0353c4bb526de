import type { BlockNode, BlockStatus } from '@tessera/core';
import { UNALLOCATED, type DynamicLayout } from './layout.ts';
import { clusterPieces } from '@tessera/module-kit/format/each-cluster';

/**
 * A dynamic VHD's blocks: the BAT maps each block of the disk to a sector bitmap and the block's
 * data after it, or to nothing (the block reads as zeroes). As qemu, reads do not consult the
 * bitmaps (a dynamic disk's unmarked sectors hold zeroes) and a new block's bitmap marks every
 * sector present, so no bitmap needs updating on later writes.
 *
 * A new block is reserved (its place at the end taken, no I/O) and used at once: writes go to it
 * while its bitmap, the footer moved past it and its BAT entry are written behind them, in
 * qemu's order. Waiting for those three writes before the next one into the block (one
 * allocation at a time) stalled a convert on a busy machine, each small write queued behind the
 * thread pool's 2 MiB reads. `flush` and closing wait for every block's metadata.
 */
export class DynamicDisk {
  private freeOffset: number;
  /** Blocks reserved whose BAT entries are not written yet: block -> file offset of its bitmap. */
  private readonly reserved = new Map<number, number>();
  /** Blocks' metadata being written, one block after another (each moves the footer). */
  private committing: Promise<void> = Promise.resolve();
  /** The first block whose metadata failed: every later write, flush and close fails with it. */
  private commitFailure: { error: unknown } | undefined;

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
    const start = sector === UNALLOCATED ? this.reserved.get(index) : sector * 512;
    if (start === undefined) return undefined;
    return start + bitmapSize + (offset % blockSize);
  }

  /** Split a guest range into pieces that each lie inside one block. */
  private pieces(offset: number, length: number): Generator<[at: number, length: number]> {
    return clusterPieces(offset, length, this.layout.blockSize);
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    for (const [at, n] of this.pieces(offset, into.length)) {
      const part = into.subarray(at - offset, at - offset + n);
      const host = this.hostOffset(at);
      // A reserved block may end past the file until the footer moved past it is written: what
      // lies beyond reads as zeroes (as it will once the footer is there).
      const inFile = host === undefined ? 0 : Math.max(0, Math.min(n, this.file.size - host));
      if (inFile > 0) await this.file.read(host!, part.subarray(0, inFile));
      part.fill(0, inFile);
    }
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.throwIfCommitFailed();
    for (const [at, n] of this.pieces(offset, data.length)) {
      const host = this.hostOffset(at) ?? this.reserve(at);
      await this.file.write(host, data.subarray(at - offset, at - offset + n));
    }
  }

  /** Zeroes: an unallocated block already reads as zeroes; an allocated one gets them written. */
  async writeZeroes(offset: number, length: number): Promise<void> {
    this.throwIfCommitFailed();
    for (const [at, n] of this.pieces(offset, length)) {
      const host = this.hostOffset(at);
      if (host !== undefined) await this.file.write(host, new Uint8Array(n));
    }
  }

  /**
   * Take the place at the end of the file for the block holding `offset` (synchronously: two
   * writes into one new block cannot each add it) and queue its metadata; the host offset of
   * `offset` in it.
   */
  private reserve(offset: number): number {
    const { blockSize, bitmapSize } = this.layout;
    const index = Math.floor(offset / blockSize);
    const start = this.freeOffset;
    if (start / 512 >= UNALLOCATED) throw new Error(`${this.file.filename}: the VHD is full (a block sector number would not fit in the BAT)`);
    this.freeOffset = start + bitmapSize + blockSize;
    this.reserved.set(index, start);
    this.committing = this.committing.then(async () => {
      if (!this.commitFailure) await this.commit(index, start).catch((error: unknown) => void (this.commitFailure = { error }));
    });
    return start + bitmapSize + (offset % blockSize);
  }

  /**
   * Block `index`'s metadata at `start`, in qemu's order: its bitmap (every sector present), the
   * footer moved past it, then the BAT entry — so a crash between the steps leaves at worst an
   * unreferenced block, never a BAT entry pointing past the footer.
   */
  private async commit(index: number, start: number): Promise<void> {
    const { blockSize, bitmapSize, bat, batOffset } = this.layout;
    await this.file.write(start, new Uint8Array(bitmapSize).fill(0xff));
    await this.file.write(start + bitmapSize + blockSize, this.footer);
    const entry = new Uint8Array(4);
    new DataView(entry.buffer).setUint32(0, start / 512);
    await this.file.write(batOffset + index * 4, entry);
    bat[index] = start / 512;
    this.reserved.delete(index);
  }

  /** Every reserved block's metadata written (flush and close wait for it); a failure is thrown. */
  async settle(): Promise<void> {
    await this.committing;
    this.throwIfCommitFailed();
  }

  private throwIfCommitFailed(): void {
    if (this.commitFailure) throw this.commitFailure.error;
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
