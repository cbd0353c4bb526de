import { inflateSync } from 'node:zlib';
import type { BlockNode } from '@tessera/core';
import type { CloopHeader } from './header.ts';
import { codedError } from '@tessera/module-kit/coded-error';

/** A cloop image's guest bytes: blocks inflated on demand, the last one kept (reads are mostly sequential). */
export class CloopImage {
  private cached: { readonly block: number; readonly data: Uint8Array } | undefined;

  constructor(
    private readonly file: BlockNode,
    private readonly header: CloopHeader,
    private readonly offsets: Float64Array,
  ) {}

  private async block(index: number): Promise<Uint8Array> {
    if (this.cached?.block === index) return this.cached.data;
    const start = this.offsets[index]!;
    const compressed = new Uint8Array(this.offsets[index + 1]! - start);
    await this.file.read(start, compressed);
    let data: Uint8Array;
    try {
      // maxOutputLength: a block never inflates past its size (a zip bomb stops there).
      data = inflateSync(compressed, { maxOutputLength: this.header.blockSize + 1 });
    } catch (error) {
      throw this.badBlock(index, `it does not inflate (${(error as Error).message})`, error);
    }
    if (data.length !== this.header.blockSize) throw this.badBlock(index, `it inflates to ${data.length} bytes, not ${this.header.blockSize}`);
    this.cached = { block: index, data };
    return data;
  }

  private badBlock(index: number, why: string, cause?: unknown): Error {
    return codedError(`Could not read '${this.file.filename}': compressed block ${index} is corrupt: ${why}`, 'corrupt-image', { cause });
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    const { blockSize } = this.header;
    let done = 0;
    while (done < into.length) {
      const at = offset + done;
      const index = Math.floor(at / blockSize);
      const within = at % blockSize;
      const length = Math.min(blockSize - within, into.length - done);
      into.set((await this.block(index)).subarray(within, within + length), done);
      done += length;
    }
  }
}
