// The block map and what it says about a guest range: which blocks are where, allocation of new
// ones at the end of the data area (data first, then the map entry, then the header's count, as
// qemu orders them), and the consistency check qemu-img check makes.
import type { BlockNode, CheckResult } from '@tessera/core';
import { codedError } from '@tessera/module-kit/coded-error';
import { DISCARDED, UNALLOCATED, encodeBlocksAllocated, type VdiHeader } from './layout.ts';
import { Serial } from '@tessera/module-kit/serial';

export class BlockMap {
  private readonly allocating = new Serial();

  private constructor(
    private readonly file: BlockNode,
    readonly header: VdiHeader,
    private readonly entries: Uint32Array,
  ) {}

  static async load(file: BlockNode, header: VdiHeader): Promise<BlockMap> {
    const bytes = new Uint8Array(header.blocksInImage * 4);
    await file.read(header.offsetBmap, bytes);
    const view = new DataView(bytes.buffer);
    const entries = new Uint32Array(header.blocksInImage);
    for (let i = 0; i < entries.length; i++) entries[i] = view.getUint32(i * 4, true);
    return new BlockMap(file, header, entries);
  }

  /** Host offset of a block, or undefined when it reads as zeroes; an impossible entry is an error. */
  hostOffset(block: number): number | undefined {
    const entry = this.entries[block]!;
    if (entry === UNALLOCATED || entry === DISCARDED) return undefined;
    if (entry >= this.header.blocksInImage) {
      throw codedError(`VDI image is corrupt: block ${block} maps to block index ${entry}, beyond the ${this.header.blocksInImage} blocks of the image`, 'corrupt-image');
    }
    const offset = this.header.offsetData + entry * this.header.blockSize;
    if (offset + this.header.blockSize > this.file.size) {
      throw codedError(`VDI image is corrupt: block ${block} lies at ${offset}, beyond the end of the file`, 'corrupt-image');
    }
    return offset;
  }

  /** The host offset of `block`, allocating it (filled with `fill`, a whole block) if it has none. */
  allocate(block: number, fill: () => Promise<Uint8Array>): Promise<{ offset: number; fresh: boolean }> {
    return this.allocating.run(async () => {
      const existing = this.hostOffset(block);
      if (existing !== undefined) return { offset: existing, fresh: false };
      const index = this.header.blocksAllocated;
      if (index >= this.header.blocksInImage) {
        throw codedError('VDI image is corrupt: no free block index is left', 'corrupt-image');
      }
      const offset = this.header.offsetData + index * this.header.blockSize;
      await this.file.write(offset, await fill());
      const entry = new Uint8Array(4);
      new DataView(entry.buffer).setUint32(0, index, true);
      await this.file.write(this.header.offsetBmap + block * 4, entry);
      this.entries[block] = index;
      this.header.blocksAllocated = index + 1;
      const count = encodeBlocksAllocated(this.header.blocksAllocated);
      await this.file.write(count.offset, count.bytes);
      return { offset, fresh: true };
    });
  }

  /** qemu-img check: every entry in range, no block index used twice, the count right. */
  check(): CheckResult {
    const messages: string[] = [];
    const used = new Map<number, number>();
    let corruptions = 0;
    let allocated = 0;
    for (let block = 0; block < this.entries.length; block++) {
      const entry = this.entries[block]!;
      if (entry === UNALLOCATED || entry === DISCARDED) continue;
      if (entry >= this.header.blocksInImage) {
        messages.push(`ERROR: block index ${entry} too large, is ${entry}`);
        corruptions++;
        continue;
      }
      allocated++;
      const other = used.get(entry);
      if (other !== undefined) {
        messages.push(`ERROR: block index ${entry} also used by ${other}`);
        corruptions++;
      } else used.set(entry, block);
    }
    if (allocated !== this.header.blocksAllocated) {
      messages.push(`ERROR: allocated blocks mismatch, is ${this.header.blocksAllocated}, should be ${allocated}`);
      corruptions++;
    }
    return { corruptions, leaks: 0, checkErrors: 0, corruptionsFixed: 0, leaksFixed: 0, messages };
  }
}
