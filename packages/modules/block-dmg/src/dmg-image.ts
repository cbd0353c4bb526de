import { inflateSync } from 'node:zlib';
import type { BlockNode } from '@tessera/core';
import { bunzip2, Bzip2Error } from './bzip2.ts';
import { ChunkType, chunkOf, type Chunk } from './chunks.ts';
import { codedError } from '@tessera/module-kit/coded-error';

const SECTOR = 512;

/** A DMG's guest bytes: each sector from its chunk, decompressed on demand; the last chunk kept (reads are mostly sequential). */
export class DmgImage {
  private cached: { readonly chunk: Chunk; readonly data: Uint8Array } | undefined;

  constructor(
    private readonly file: BlockNode,
    private readonly chunks: readonly Chunk[],
  ) {}

  async read(offset: number, into: Uint8Array): Promise<void> {
    let done = 0;
    while (done < into.length) {
      const at = offset + done;
      const sector = Math.floor(at / SECTOR);
      const chunk = chunkOf(this.chunks, sector);
      if (!chunk) throw this.failure(`sector ${sector} is in no chunk of the image`, 'corrupt-image');
      const chunkStart = chunk.firstSector * SECTOR;
      const length = Math.min(chunkStart + chunk.sectorCount * SECTOR - at, into.length - done);
      if (chunk.type === ChunkType.zero || chunk.type === ChunkType.ignore) {
        into.fill(0, done, done + length);
      } else {
        const data = await this.contents(chunk);
        into.set(data.subarray(at - chunkStart, at - chunkStart + length), done);
      }
      done += length;
    }
  }

  /** A stored chunk's guest bytes (sectorCount sectors). */
  private async contents(chunk: Chunk): Promise<Uint8Array> {
    if (this.cached?.chunk === chunk) return this.cached.data;
    const size = chunk.sectorCount * SECTOR;
    if (chunk.offset + chunk.length > this.file.size) throw this.failure(`a chunk's data (${chunk.length} bytes at ${chunk.offset}) lies past the end of the file`, 'corrupt-image');
    const stored = new Uint8Array(chunk.length);
    await this.file.read(chunk.offset, stored);
    let data: Uint8Array;
    switch (chunk.type) {
      case ChunkType.raw:
        // Copied as stored; sectors the stored bytes do not cover read as zeroes.
        data = new Uint8Array(size);
        data.set(stored.subarray(0, size));
        break;
      case ChunkType.zlib:
        data = this.inflate(stored, size);
        break;
      case ChunkType.bzip2:
        try {
          data = bunzip2(stored, size);
        } catch (error) {
          if (error instanceof Bzip2Error) throw this.failure(`a bzip2 chunk is corrupt: ${error.message}`, 'corrupt-image', error);
          throw error;
        }
        break;
      default:
        throw this.failure('the image uses lzfse-compressed chunks (ULFO), which this program cannot decompress', 'unsupported-feature');
    }
    this.cached = { chunk, data };
    return data;
  }

  private inflate(stored: Uint8Array, size: number): Uint8Array {
    let data: Uint8Array;
    try {
      // Never more than the chunk's size (plus one byte, to see a longer stream): a zip bomb stops there.
      data = inflateSync(stored, { maxOutputLength: size + 1 });
    } catch (error) {
      throw this.failure(`a zlib chunk is corrupt: ${(error as Error).message}`, 'corrupt-image', error);
    }
    if (data.length !== size) throw this.failure(`a zlib chunk inflates to ${data.length} bytes, not ${size}`, 'corrupt-image');
    return data;
  }

  private failure(why: string, code: 'corrupt-image' | 'unsupported-feature', cause?: unknown): Error {
    return codedError(`Could not read '${this.file.filename}': ${why}`, code, { cause });
  }
}
