import type { BlockNode } from '@tessera/core';
import { chainStatus, type ChainStatus } from './chain-status.ts';
import { CHUNK_SIZE, ReadError, readChunks } from './chunks.ts';
import { firstDifferentSector, firstNonZeroSector } from './zero.ts';

export type CompareOutcome =
  | { readonly kind: 'identical' }
  | { readonly kind: 'content-mismatch'; readonly offset: number }
  | { readonly kind: 'strict-size-mismatch' }
  | { readonly kind: 'strict-status-mismatch'; readonly offset: number };

/** A block-status query that failed (compare's exit code 3). */
export class StatusError extends Error {
  constructor(
    readonly node: BlockNode,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'StatusError';
  }
}

export interface CompareEvents {
  /** Bytes examined so far (of the larger image's size). */
  progress(bytesDone: number): void;
  /** The common part matched and the sizes differ: the larger image's tail is checked next. */
  sizeMismatch(): void;
}

export interface CompareOptions {
  /** `-s`: sizes and allocation status must match too. */
  readonly strict: boolean;
  readonly depth?: number;
}

/**
 * Compare two images the way qemu-img compare does: the common part byte for byte (reporting
 * the 512-byte sector of the first difference), then the larger image's tail, which must
 * read as zeroes.
 */
export async function compareImages(
  first: BlockNode,
  second: BlockNode,
  options: CompareOptions,
  events: CompareEvents,
): Promise<CompareOutcome> {
  if (options.strict) return compareStrict(first, second, events);
  const common = Math.min(first.size, second.size);
  const readOptions = { depth: options.depth ?? 4 };
  const firstChunks = readChunks(first, 0, common, readOptions);
  const secondChunks = readChunks(second, 0, common, readOptions);
  try {
    for (;;) {
      const [a, b] = await Promise.all([firstChunks.next(), secondChunks.next()]);
      if (a.done || b.done) break;
      const { offset, data } = a.value;
      const differs = firstDifferentSector(data, b.value.data);
      if (differs >= 0) return { kind: 'content-mismatch', offset: offset + differs };
      events.progress(offset + data.length);
    }
  } finally {
    await Promise.all([firstChunks.return(undefined), secondChunks.return(undefined)]);
  }

  if (first.size === second.size) return { kind: 'identical' };
  events.sizeMismatch();
  const larger = first.size > second.size ? first : second;
  for await (const { offset, data } of readChunks(larger, common, larger.size, readOptions)) {
    const nonZero = firstNonZeroSector(data);
    if (nonZero >= 0) return { kind: 'content-mismatch', offset: offset + nonZero };
    events.progress(offset + data.length);
  }
  return { kind: 'identical' };
}

/**
 * Strict mode, step by step as qemu-img takes it: both images' status through their backing
 * chains from the current offset must be the same (flags, not offsets), then the run both report
 * is compared byte for byte where it holds data, and the next step starts after it.
 */
async function compareStrict(first: BlockNode, second: BlockNode, events: CompareEvents): Promise<CompareOutcome> {
  if (first.size !== second.size) return { kind: 'strict-size-mismatch' };
  const size = first.size;
  const a = new Uint8Array(CHUNK_SIZE);
  const b = new Uint8Array(CHUNK_SIZE);
  for (let offset = 0; offset < size; ) {
    const [s1, s2] = await Promise.all([status(first, offset, size - offset), status(second, offset, size - offset)]);
    if (s1.flags !== s2.flags) return { kind: 'strict-status-mismatch', offset };
    let chunk = Math.min(s1.length, s2.length);
    const bothZero = s1.flags.includes('Z');
    if (!bothZero && s1.flags.includes('A')) {
      chunk = Math.min(chunk, CHUNK_SIZE);
      const [x, y] = [a.subarray(0, chunk), b.subarray(0, chunk)];
      await Promise.all([read(first, offset, x), read(second, offset, y)]);
      const differs = firstDifferentSector(x, y);
      if (differs >= 0) return { kind: 'content-mismatch', offset: offset + differs };
    }
    offset += chunk;
    events.progress(offset);
  }
  return { kind: 'identical' };
}

async function status(node: BlockNode, offset: number, length: number): Promise<ChainStatus> {
  try {
    return await chainStatus(node, offset, length);
  } catch (error) {
    throw new StatusError(node, error);
  }
}

async function read(node: BlockNode, offset: number, into: Uint8Array): Promise<void> {
  try {
    await node.read(offset, into);
  } catch (error) {
    throw new ReadError(node, offset, error);
  }
}
