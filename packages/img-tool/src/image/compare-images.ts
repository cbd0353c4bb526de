import type { BlockNode } from '@tessera/core';
import { chainStatus, type ChainStatus, type StatusGranularity } from './chain-status.ts';
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
  /** The status granularity of each image's format (default: none). */
  readonly granularity?: StatusGranularity;
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
  const status = statusOf(options.granularity ?? (() => undefined));
  if (options.strict) return compareStrict(first, second, events, status);
  const common = Math.min(first.size, second.size);
  const readOptions = { depth: options.depth ?? 4 };
  // Work follows allocation, as qemu-img's does: runs both images report as reading zeroes are
  // not read at all (a 1 TiB empty image compares in a moment); other runs are read in chunks.
  for (let offset = 0; offset < common; ) {
    const [s1, s2] = await Promise.all([status(first, offset, common - offset), status(second, offset, common - offset)]);
    const length = Math.min(s1.length, s2.length);
    if (length <= 0) throw new StatusError(s1.length <= 0 ? first : second, new Error(`block status reported nothing at offset ${offset}`));
    const [zero1, zero2] = [readsZero(s1), readsZero(s2)];
    const outcome =
      zero1 && zero2
        ? undefined
        : zero1 || zero2
          ? await firstNonZero(zero1 ? second : first, offset, offset + length, readOptions, events)
          : await firstDifference(first, second, offset, offset + length, readOptions, events);
    if (outcome) return outcome;
    offset += length;
    events.progress(offset);
  }

  if (first.size === second.size) return { kind: 'identical' };
  events.sizeMismatch();
  const larger = first.size > second.size ? first : second;
  for (let offset = common; offset < larger.size; ) {
    const run = await status(larger, offset, larger.size - offset);
    if (run.length <= 0) throw new StatusError(larger, new Error(`block status reported nothing at offset ${offset}`));
    const outcome = readsZero(run) ? undefined : await firstNonZero(larger, offset, offset + run.length, readOptions, events);
    if (outcome) return outcome;
    offset += run.length;
    events.progress(offset);
  }
  return { kind: 'identical' };
}

/** Whether a chain status says the run reads as zeroes (zero flag: a hole, a zero cluster, nothing below). */
function readsZero(run: ChainStatus): boolean {
  return run.flags.includes('Z');
}

/** The first difference of `[start, end)` of two images, read in chunks side by side. */
async function firstDifference(
  first: BlockNode,
  second: BlockNode,
  start: number,
  end: number,
  readOptions: { depth: number },
  events: CompareEvents,
): Promise<CompareOutcome | undefined> {
  const firstChunks = readChunks(first, start, end, readOptions);
  const secondChunks = readChunks(second, start, end, readOptions);
  try {
    for (;;) {
      const [a, b] = await Promise.all([firstChunks.next(), secondChunks.next()]);
      if (a.done || b.done) return undefined;
      const { offset, data } = a.value;
      const differs = firstDifferentSector(data, b.value.data);
      if (differs >= 0) return { kind: 'content-mismatch', offset: offset + differs };
      events.progress(offset + data.length);
    }
  } finally {
    await Promise.all([firstChunks.return(undefined), secondChunks.return(undefined)]);
  }
}

/** The first sector of `[start, end)` of an image that is not zero (the other image reads zeroes there). */
async function firstNonZero(
  node: BlockNode,
  start: number,
  end: number,
  readOptions: { depth: number },
  events: CompareEvents,
): Promise<CompareOutcome | undefined> {
  for await (const { offset, data } of readChunks(node, start, end, readOptions)) {
    const nonZero = firstNonZeroSector(data);
    if (nonZero >= 0) return { kind: 'content-mismatch', offset: offset + nonZero };
    events.progress(offset + data.length);
  }
  return undefined;
}

/**
 * Strict mode, step by step as qemu-img takes it: both images' status through their backing
 * chains from the current offset must be the same (flags, not offsets), then the run both report
 * is compared byte for byte where it holds data, and the next step starts after it.
 */
async function compareStrict(first: BlockNode, second: BlockNode, events: CompareEvents, status: NodeStatus): Promise<CompareOutcome> {
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

type NodeStatus = (node: BlockNode, offset: number, length: number) => Promise<ChainStatus>;

function statusOf(granularity: StatusGranularity): NodeStatus {
  return async (node, offset, length) => {
    try {
      return await chainStatus(node, offset, length, granularity);
    } catch (error) {
      throw new StatusError(node, error);
    }
  };
}

async function read(node: BlockNode, offset: number, into: Uint8Array): Promise<void> {
  try {
    await node.read(offset, into);
  } catch (error) {
    throw new ReadError(node, offset, error);
  }
}
