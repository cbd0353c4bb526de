import type { BlockNode } from '@tessera/core';
import { readChunks } from './chunks.ts';
import { dataRanges } from './sparse.ts';

/** A write that failed, with where it was. */
export class WriteError extends Error {
  constructor(
    readonly offset: number,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'WriteError';
  }
}

export interface CopyOptions {
  /** `-S`: zero runs of at least this many bytes are not written; 0 writes everything. */
  readonly sparseSize: number;
  /** The target reads as zeroes already (freshly created), so zero runs may be skipped. */
  readonly targetIsZero: boolean;
  /** Reads kept in flight. */
  readonly depth: number;
  /** `-r`: bytes per second, when limited. */
  readonly rateLimit?: number;
  /** Bytes copied so far, after each chunk. */
  readonly onProgress: (bytesDone: number) => void;
}

/** Copy the sources one after the other onto the target (convert's data path). */
export async function copyImages(sources: readonly BlockNode[], target: BlockNode, options: CopyOptions): Promise<void> {
  const started = Date.now();
  const sparse = options.targetIsZero ? options.sparseSize : 0;
  let base = 0;
  let done = 0;
  for (const source of sources) {
    for await (const chunk of readChunks(source, 0, source.size, { depth: options.depth })) {
      await writeChunk(target, base + chunk.offset, chunk.data, sparse);
      done += chunk.data.length;
      options.onProgress(done);
      if (options.rateLimit) await throttle(started, done, options.rateLimit);
    }
    base += source.size;
  }
}

/** Write `data` at `offset`, leaving out the zero runs `-S` allows to skip (see dataRanges). */
async function writeChunk(target: BlockNode, offset: number, data: Uint8Array, sparse: number): Promise<void> {
  if (sparse === 0) return write(target, offset, data);
  for (const [start, end] of dataRanges(data, offset, sparse)) {
    await write(target, offset + start, data.subarray(start, end));
  }
}

async function write(target: BlockNode, offset: number, data: Uint8Array): Promise<void> {
  try {
    await target.write(offset, data);
  } catch (error) {
    throw new WriteError(offset, error);
  }
}

/** Sleep until `done` bytes are within the rate limit. */
async function throttle(started: number, done: number, bytesPerSecond: number): Promise<void> {
  const due = started + (done / bytesPerSecond) * 1000;
  const wait = due - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}
