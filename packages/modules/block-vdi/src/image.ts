import type { BlockNode, BlockStatus } from '@tessera/core';
import { eachCluster } from '@tessera/module-kit/format/each-cluster';
import type { BlockMap } from './block-map.ts';

/** The disk of a VDI image: its blocks, found through the block map, in the file. */
export class VdiImage {
  constructor(
    readonly file: BlockNode,
    readonly map: BlockMap,
  ) {}

  get size(): number {
    return this.map.header.diskSize;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    await eachCluster(offset, into.length, this.map.header.blockSize, async (block, within, at, length) => {
      const host = this.map.hostOffset(block);
      const part = into.subarray(at, at + length);
      if (host === undefined) part.fill(0);
      else await this.file.read(host + within, part);
    });
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    const blockSize = this.map.header.blockSize;
    await eachCluster(offset, data.length, blockSize, async (block, within, at, length) => {
      const part = data.subarray(at, at + length);
      const { offset: host, fresh } = await this.map.allocate(block, async () => {
        // A new block holds this write and zeroes elsewhere, written whole at once.
        const whole = new Uint8Array(blockSize);
        whole.set(part, within);
        return whole;
      });
      if (!fresh) await this.file.write(host + within, part);
    });
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const blockSize = this.map.header.blockSize;
    const first = Math.floor(offset / blockSize);
    const host = this.map.hostOffset(first);
    let end = Math.min((first + 1) * blockSize, offset + length, this.size);
    // Contiguous runs of the same kind (and, for data, of consecutive host blocks) are one answer.
    for (let block = first + 1; end < Math.min(offset + length, this.size); block++) {
      const next = this.map.hostOffset(block);
      const same = host === undefined ? next === undefined : next === host + (block - first) * blockSize;
      if (!same) break;
      end = Math.min((block + 1) * blockSize, offset + length, this.size);
    }
    if (host === undefined) return { length: end - offset, zero: true, data: false, allocated: true };
    const at = host + (offset - first * blockSize);
    // As qemu, the file is asked too: a hole in it (a static image's untouched blocks) reads as zeroes.
    const inFile = await this.file.blockStatus?.(at, end - offset);
    const run = inFile ? Math.min(inFile.length, end - offset) : end - offset;
    return { length: run, zero: inFile?.zero ?? false, data: true, allocated: true, offset: at, file: this.file.filename };
  }
}
