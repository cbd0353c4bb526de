import type { BlockNode } from '@tessera/core';
import { errorMessage } from '../cli/errors.ts';

/** 2 MiB: big enough for remote images (one range request each), small enough to keep a few in flight. */
export const CHUNK_SIZE = 2 * 1024 * 1024;

// The one piece of the WebAssembly API used here (the project's type libraries leave it out).
declare const WebAssembly: { Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer } };

/**
 * A buffer whose bytes start on a page boundary. The kernel copies file data into such a buffer
 * several times faster than into one a few bytes off a page (as malloc'd memory is). WebAssembly
 * memory is page-aligned by construction; plain memory is the fallback where it cannot be had.
 */
export function pageAlignedBuffer(size: number): Uint8Array {
  const WASM_PAGE = 65536;
  try {
    const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(size / WASM_PAGE)) });
    return new Uint8Array(memory.buffer, 0, size);
  } catch {
    return new Uint8Array(size);
  }
}

export interface Chunk {
  readonly offset: number;
  readonly data: Uint8Array;
}

/** A read that failed, with where it was. */
export class ReadError extends Error {
  constructor(
    readonly node: BlockNode,
    readonly offset: number,
    cause: unknown,
  ) {
    super(errorMessage(cause), { cause });
    this.name = 'ReadError';
  }
}

export interface ReadChunksOptions {
  readonly chunkSize?: number;
  /** Reads kept in flight ahead of the consumer. */
  readonly depth?: number;
}

/**
 * `node[start, end)` in chunks, in order, with the next reads already under way while the
 * caller works on the current one (remote images overlap their round trips this way).
 * A chunk's bytes are valid until the caller asks for the next chunk: buffers are reused.
 */
export async function* readChunks(
  node: BlockNode,
  start: number,
  end: number,
  { chunkSize = CHUNK_SIZE, depth = 4 }: ReadChunksOptions = {},
): AsyncGenerator<Chunk> {
  const pending: Promise<Chunk | ReadError>[] = [];
  const spare: Uint8Array[] = [];
  let next = start;
  const launch = (): void => {
    const offset = next;
    const length = Math.min(chunkSize, end - offset);
    const buffer = spare.pop() ?? pageAlignedBuffer(chunkSize);
    const data = buffer.subarray(0, length);
    next += length;
    // Failures are turned into values so a read nobody awaits yet never goes unhandled.
    pending.push(node.read(offset, data).then(
      () => ({ offset, data }),
      (error: unknown) => new ReadError(node, offset, error),
    ));
  };
  try {
    while (next < end || pending.length > 0) {
      while (next < end && pending.length < depth) launch();
      const result = await pending.shift()!;
      if (result instanceof ReadError) throw result;
      yield result;
      spare.push(new Uint8Array(result.data.buffer, result.data.byteOffset, chunkSize));
    }
  } finally {
    // Let reads still in flight settle before the caller closes the node.
    await Promise.allSettled(pending);
  }
}
