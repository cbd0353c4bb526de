import type { BlockNode, BlockStatus } from '@tessera/core';
import { readChunks } from './chunks.ts';
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
  if (options.strict && first.size !== second.size) return { kind: 'strict-size-mismatch' };
  const common = Math.min(first.size, second.size);
  const readOptions = { depth: options.depth ?? 4 };
  const firstChunks = readChunks(first, 0, common, readOptions);
  const secondChunks = readChunks(second, 0, common, readOptions);
  try {
    for (;;) {
      const [a, b] = await Promise.all([firstChunks.next(), secondChunks.next()]);
      if (a.done || b.done) break;
      const { offset, data } = a.value;
      if (options.strict) {
        const mismatch = await statusMismatch(first, second, offset, data.length);
        if (mismatch !== undefined) return { kind: 'strict-status-mismatch', offset: mismatch };
      }
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

/** First offset in `[offset, offset + length)` where the two images' allocation status differs. */
async function statusMismatch(first: BlockNode, second: BlockNode, offset: number, length: number): Promise<number | undefined> {
  const end = offset + length;
  for (let at = offset; at < end; ) {
    const [a, b] = await Promise.all([status(first, at, end - at), status(second, at, end - at)]);
    if (a.data !== b.data || a.zero !== b.zero) return at;
    at += Math.max(1, Math.min(a.length, b.length));
  }
  return undefined;
}

async function status(node: BlockNode, offset: number, length: number): Promise<BlockStatus> {
  try {
    return (await node.blockStatus?.(offset, length)) ?? { length, zero: false, data: true, offset };
  } catch (error) {
    throw new StatusError(node, error);
  }
}
