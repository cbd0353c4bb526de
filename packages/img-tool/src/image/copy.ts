import { SECTOR_SIZE, writeZeroes, type BlockNode } from '@tessera/core';
import { errorMessage } from '../cli/errors.ts';
import type { StopRequest } from '../cli/stop-signals.ts';
import { CHUNK_SIZE, ReadError, pageAlignedBuffer } from './chunks.ts';
import { dataRanges } from './sparse.ts';
import { joinAcrossPartialUnits } from './coalesce.ts';
import { complement, intersect, leaveOutZeroesTargetHas } from './target-holes.ts';
import { throttle } from './throttle.ts';
import { isZero } from './zero.ts';
import { ZeroTailScout, type ZeroTailSource } from './zero-tail.ts';

/** Chunks whose writes may be under way at once when writing in order. */
const WRITE_WINDOW = 2;

/** Below this many chunks the workers reach the end soon enough: no zero-tail scout. */
const MIN_CHUNKS_TO_SCOUT = 16;

/** A write that failed, with where it was. */
export class WriteError extends Error {
  constructor(
    readonly offset: number,
    cause: unknown,
  ) {
    super(errorMessage(cause), { cause });
    this.name = 'WriteError';
  }
}

export interface CopyOptions {
  /**
   * `-S`: zero runs of at least this many bytes are not written as data (left out where the
   * target reads as zeroes, written as zeroes, qemu's write-zeroes, where not); 0 writes every
   * byte as data, so the target ends up fully allocated.
   */
  readonly sparseSize: number;
  /** The target reads as zeroes already (freshly created, or `--target-is-zero`), so zero runs may be skipped. */
  readonly targetIsZero: boolean;
  /** `-m`: chunks in flight (each read, then written). */
  readonly depth: number;
  /** `-W`: a chunk is written as soon as it is read, not after the chunks before it. */
  readonly outOfOrder: boolean;
  /** `-c`: the target's cluster size; every non-zero cluster is stored with writeCompressed. */
  readonly compressClusterSize?: number;
  /**
   * `-B`: the target has a backing file, so it is not zero and only what the sources' own layers
   * allocate is written (what they leave to their backing files is left to the target's), as
   * qemu-img does: it does not compare with the target's backing file.
   */
  readonly onlySourceAllocations?: boolean;
  /**
   * `-n` onto a raw image: zero runs the target already reads as zeroes are not written (its
   * holes stay holes, as qemu-img keeps them by punching). Not for formats, where write-zeroes
   * makes zero clusters.
   */
  readonly keepTargetHoles?: boolean;
  /**
   * The unit the target allocates in whole (coalesce.ts: allocationUnit), when it has one: data
   * runs whose zero gap holds no whole unit are written as one.
   */
  readonly allocationUnit?: number;
  /** `-r`: bytes per second, when limited. */
  readonly rateLimit?: number;
  /** Bytes copied so far, after each chunk. */
  readonly onProgress: (bytesDone: number) => void;
  /** Aborted: no further chunk is started, and the copy fails with the abort's reason. */
  readonly stop?: StopRequest;
}

/** Where the bytes of a target range come from: the sources concatenated. */
interface Piece {
  readonly source: BlockNode;
  readonly sourceOffset: number;
  readonly length: number;
}

/**
 * Copy the sources one after the other onto the target (convert's data path), the way qemu-img
 * does it: `depth` workers each read a 2 MiB chunk and write what of it must be written. Reads
 * overlap freely; writes are issued in chunk order unless `outOfOrder`, so a growing format
 * (one with metadata) lays clusters out in guest order, as qemu-img does. With `outOfOrder` each chunk is
 * written as soon as it is read. Where zero chunks need no write, a scout finds the source's zero
 * tail meanwhile (zero-tail.ts), and the workers skip it.
 */
export async function copyImages(sources: readonly BlockNode[], target: BlockNode, options: CopyOptions): Promise<void> {
  const total = sources.reduce((sum, source) => sum + source.size, 0);
  const chunkSize = CHUNK_SIZE;
  const chunks = Math.ceil(total / chunkSize);
  const started = Date.now();
  const turns = new Turns();
  const inFlight: Promise<unknown>[] = [];
  let nextChunk = 0;
  let done = 0;
  let failure: unknown;
  // Not with -m 1 (one request at a time asked for) or -r (the copy's rate limited): the scout
  // would read beside either.
  const scout = zeroesNeedNoWrite(options) && chunks >= MIN_CHUNKS_TO_SCOUT && options.depth > 1 && !options.rateLimit
    ? new ZeroTailScout(chunkSource(sources, total, chunkSize), chunks, [pageAlignedBuffer(chunkSize), pageAlignedBuffer(chunkSize)], () => (failure === undefined ? nextChunk : chunks))
    : undefined;

  const worker = async (): Promise<void> => {
    const buffer = pageAlignedBuffer(chunkSize);
    let scratch: Uint8Array | undefined;
    while (failure === undefined && nextChunk < chunks) {
      if (options.stop?.aborted) {
        failure ??= options.stop.reason;
        break;
      }
      const index = nextChunk++;
      const offset = index * chunkSize;
      const data = buffer.subarray(0, Math.min(chunkSize, total - offset));
      if (scout?.isZero(index)) {
        turns.done(index); // nothing to write: the chunk reads as zeroes, as the target does
        done += data.length;
        options.onProgress(done);
        continue;
      }
      let writes: Promise<void>[] = [];
      try {
        const pieces = piecesOf(sources, offset, data.length);
        // What the sources know to be zeroes (unallocated clusters) is not read, as qemu-img
        // skips it; onto a target that reads as zeroes it is not even looked at.
        let ranges: ChunkWrites = { data: [], zeroes: [] };
        const chunkEnd = offset + data.length;
        const skipsZeroes = zeroesNeedNoWrite(options);
        // Where zeroes need no write, the whole run of known zeroes is looked up at once and the
        // chunks inside it are done without a turn each: work follows allocation, not size (a
        // 1 TiB empty image has 512Ki chunks but a few thousand block-status runs).
        const zeroEnd = await knownZeroEnd(sources, offset, skipsZeroes ? total : chunkEnd);
        const zero = zeroEnd >= chunkEnd;
        if (zero && skipsZeroes) {
          const from = nextChunk;
          const to = zeroEnd >= total ? chunks : Math.max(from, Math.floor(zeroEnd / chunkSize));
          nextChunk = to;
          turns.doneRun(from, to);
          done += Math.min(total, to * chunkSize) - Math.min(total, from * chunkSize);
        }
        // With -S 0 every byte is written as data, zeroes included (the target ends up fully allocated).
        if (!zero || !zeroesNeedNoWrite(options)) {
          if (zero && options.sparseSize > 0) {
            ranges = await rangesToWrite(pieces, offset, undefined, options);
          } else {
            if (zero) data.fill(0);
            else await readPieces(pieces, data);
            ranges = await rangesToWrite(pieces, offset, data, options);
          }
          if (keepsTargetHoles(options)) ranges.zeroes = await leaveOutZeroesTargetHas(target, offset, ranges.zeroes, (scratch ??= pageAlignedBuffer(chunkSize)));
        }
        if (!options.outOfOrder) {
          await turns.wait(index);
          // Issued in chunk order, at most WRITE_WINDOW chunks' writes at a time (more would only
          // wait behind the target's earlier writes: a local file runs its large writes alone,
          // block-file's change-order.ts). A growing format allocates in call order (under its lock,
          // compressed clusters in their queue), so clusters lie in guest order as qemu-img lays
          // them out; with two under way, the next write is already issued when one finishes.
          // (Compressed clusters are exempt: the driver queues them, and deflating overlaps.)
          while (inFlight.length >= WRITE_WINDOW && options.compressClusterSize === undefined) await inFlight.shift();
        }
        if (failure === undefined) writes = issueWrites(target, offset, data, ranges, options);
        if (!options.outOfOrder && options.compressClusterSize === undefined && writes.length) inFlight.push(Promise.allSettled(writes));
      } catch (error) {
        failure ??= error;
      } finally {
        turns.done(index);
      }
      const results = await Promise.allSettled(writes);
      const rejected = results.find((result) => result.status === 'rejected');
      if (rejected) failure ??= rejected.reason;
      if (failure !== undefined) break;
      done += data.length;
      options.onProgress(done);
      if (options.rateLimit) await throttle(started, done, options.rateLimit);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.depth, chunks)) }, worker));
  await scout?.finished;
  if (failure !== undefined) throw failure;
}

/**
 * Whether a chunk of zeroes is left out entirely: the target reads as zeroes and zeroes are
 * skipped (not with -S 0, which allocates everything, compressed or not, as qemu-img does).
 */
function zeroesNeedNoWrite(options: CopyOptions): boolean {
  return options.targetIsZero && options.sparseSize > 0;
}

/** Whether zero runs the target already reads as zeroes are left unwritten (`-n` onto raw, not with `-S 0`). */
function keepsTargetHoles(options: CopyOptions): boolean {
  return (options.keepTargetHoles ?? false) && !options.targetIsZero && options.sparseSize > 0 && options.compressClusterSize === undefined;
}

/** What of a chunk is written: `[start, end)` ranges relative to the chunk, as data and as write-zeroes. */
interface ChunkWrites {
  data: Array<[number, number]>;
  zeroes: Array<[number, number]>;
}

/** The sources as chunks, for the zero-tail scout. */
function chunkSource(sources: readonly BlockNode[], total: number, chunkSize: number): ZeroTailSource {
  const piecesAt = (index: number) => piecesOf(sources, index * chunkSize, Math.min(chunkSize, total - index * chunkSize));
  return {
    knownZero: (index) => readsAsZero(piecesAt(index)),
    read: (index, into) => readPieces(piecesAt(index), into),
    lengthOf: (index) => Math.min(chunkSize, total - index * chunkSize),
    isZero: (data) => isZero(data),
  };
}

/** The sources' pieces that make up target range `[offset, offset + length)`. */
function piecesOf(sources: readonly BlockNode[], offset: number, length: number): Piece[] {
  const pieces: Piece[] = [];
  let base = 0;
  for (const source of sources) {
    const from = Math.max(offset, base);
    const to = Math.min(offset + length, base + source.size);
    if (from < to) pieces.push({ source, sourceOffset: from - base, length: to - from });
    base += source.size;
  }
  return pieces;
}

/**
 * Where the run of bytes the sources report as reading zeroes (block status) that starts at
 * target offset `offset` ends, looking no further than `limit`; `offset` when there is none.
 */
async function knownZeroEnd(sources: readonly BlockNode[], offset: number, limit: number): Promise<number> {
  let at = offset;
  let base = 0;
  for (const source of sources) {
    const sourceEnd = Math.min(limit, base + source.size);
    if (at < sourceEnd && !source.blockStatus) return at;
    while (at < sourceEnd) {
      const status = await source.blockStatus!(at - base, sourceEnd - at);
      if (!status.zero || status.length <= 0) return at;
      at += status.length;
    }
    base += source.size;
    if (at >= limit) break;
  }
  return Math.min(at, limit);
}

/** Whether the sources report every piece as reading zeroes (block status), so nothing needs reading. */
async function readsAsZero(pieces: readonly Piece[]): Promise<boolean> {
  for (const { source, sourceOffset, length } of pieces) {
    if (!source.blockStatus) return false;
    for (let at = 0; at < length; ) {
      const status = await source.blockStatus(sourceOffset + at, length - at);
      if (!status.zero || status.length <= 0) return false;
      at += status.length;
    }
  }
  return true;
}

async function readPieces(pieces: readonly Piece[], into: Uint8Array): Promise<void> {
  let at = 0;
  for (const { source, sourceOffset, length } of pieces) {
    try {
      await source.read(sourceOffset, into.subarray(at, at + length));
    } catch (error) {
      throw new ReadError(source, sourceOffset, error);
    }
    at += length;
  }
}

/**
 * Start the writes of `ranges` of one chunk (synchronously, so their order is the call order)
 * and return them. `data` must stay untouched until they settle.
 */
function issueWrites(
  target: BlockNode,
  offset: number,
  data: Uint8Array,
  ranges: ChunkWrites,
  options: CopyOptions,
): Promise<void>[] {
  const writes: Promise<void>[] = [];
  const clusterSize = options.compressClusterSize;
  // In offset order, so that a growing format still allocates in guest order.
  const all = [...ranges.data.map((range) => [...range, 1] as const), ...ranges.zeroes.map((range) => [...range, 0] as const)];
  if (ranges.zeroes.length) all.sort((a, b) => a[0] - b[0]);
  const zeroes = (at: number, length: number) => guarded(offset + at, writeZeroes(target, offset + at, length, { mayUnmap: true }));
  for (const [start, end, isData] of all) {
    if (!isData) {
      writes.push(zeroes(start, end - start));
      continue;
    }
    if (clusterSize === undefined) {
      // A failure names the chunk, as qemu-img names the start of the piece it was writing.
      writes.push(guarded(offset, target.write(offset + start, data.subarray(start, end))));
      continue;
    }
    for (let at = start; at < end; at += clusterSize) {
      const cluster = data.subarray(at, Math.min(end, at + clusterSize));
      // Zeroes are not compressed (but with -S 0): left out, or written as zeroes (a zero cluster where the format has them).
      if (options.sparseSize > 0 && isZero(cluster)) {
        // After the compressed writes before it: if one fails (a target already allocated), nothing after it is changed, as in qemu-img.
        const before = Promise.all(writes);
        if (!options.targetIsZero) writes.push(before.then(() => zeroes(at, cluster.length)));
        continue;
      }
      writes.push(guarded(offset + at, writeCompressed(target, offset + at, cluster, clusterSize)));
    }
  }
  return writes;
}

/**
 * What of a chunk is written, as qemu-img decides: with -S 0 all of it as data; else the data
 * runs `-S` finds (sparse.ts) as data and the zero runs between them as write-zeroes, these left
 * out where the target reads as zeroes. `data` undefined: the sources know the chunk is zeroes.
 * Ranges are relative to the chunk, cluster aligned when compressing (each cluster is then
 * compressed or zero, told apart when issued).
 */
async function rangesToWrite(pieces: readonly Piece[], offset: number, data: Uint8Array | undefined, options: CopyOptions): Promise<ChunkWrites> {
  const length = pieces.reduce((sum, piece) => sum + piece.length, 0);
  const whole: Array<[number, number]> = [[0, length]];
  let written: Array<[number, number]>;
  if (data === undefined) written = [];
  else if (options.compressClusterSize !== undefined || options.sparseSize === 0) written = whole;
  else written = await sparseDataRanges(pieces, offset, data, options.sparseSize);
  let zeroes = options.targetIsZero && options.sparseSize > 0 ? [] : complement(written, length);
  if (options.onlySourceAllocations) {
    const allocated = await allocatedRanges(pieces);
    written = intersect(written, allocated);
    zeroes = intersect(zeroes, allocated);
  }
  if (options.compressClusterSize !== undefined) written = wholeClusters(written, options.compressClusterSize, length);
  else if (options.allocationUnit !== undefined && zeroes.length === 0 && options.targetIsZero && !options.onlySourceAllocations) {
    written = joinAcrossPartialUnits(written, offset, length, options.allocationUnit);
  }
  return { data: written, zeroes };
}

/**
 * The data runs `-S` finds in a chunk, looked for within each run the sources report as data
 * (block status), as qemu-img looks at each extent: what they report as zeroes is never data,
 * however short (a zero cluster, a hole), and the sparse size counts within an extent only.
 */
async function sparseDataRanges(pieces: readonly Piece[], offset: number, data: Uint8Array, sparseSize: number): Promise<Array<[number, number]>> {
  const runs = await dataRuns(pieces);
  if (runs.length === 1 && runs[0]![0] === 0 && runs[0]![1] === data.length) return dataRanges(data, offset, sparseSize);
  const ranges: Array<[number, number]> = [];
  for (const [start, end] of runs) {
    for (const [from, to] of dataRanges(data.subarray(start, end), offset + start, sparseSize)) ranges.push([start + from, start + to]);
  }
  return ranges;
}

/**
 * Where the sources do not report zeroes, relative to the chunk (sector-aligned runs; the whole
 * chunk when a boundary is not, or a source cannot tell).
 */
async function dataRuns(pieces: readonly Piece[]): Promise<Array<[number, number]>> {
  const length = pieces.reduce((sum, piece) => sum + piece.length, 0);
  const runs: Array<[number, number]> = [];
  let base = 0;
  for (const { source, sourceOffset, length: pieceLength } of pieces) {
    if (!source.blockStatus) return [[0, length]];
    for (let at = 0; at < pieceLength; ) {
      const status = await source.blockStatus(sourceOffset + at, pieceLength - at);
      if (status.length <= 0) return [[0, length]];
      const step = Math.min(status.length, pieceLength - at);
      if (!status.zero) {
        const last = runs.at(-1);
        if (last && last[1] === base + at) last[1] = base + at + step;
        else runs.push([base + at, base + at + step]);
      }
      at += step;
    }
    base += pieceLength;
  }
  return runs.every(([start, end]) => start % SECTOR_SIZE === 0 && (end % SECTOR_SIZE === 0 || end === length)) ? runs : [[0, length]];
}

/** `ranges` grown to whole clusters (compressed clusters are written whole), merged where they meet. */
function wholeClusters(ranges: ReadonlyArray<[number, number]>, clusterSize: number, limit: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [start, end] of ranges) {
    const from = Math.floor(start / clusterSize) * clusterSize;
    const to = Math.min(limit, Math.ceil(end / clusterSize) * clusterSize);
    const last = out.at(-1);
    if (last && last[1] >= from) last[1] = Math.max(last[1], to);
    else out.push([from, to]);
  }
  return out;
}

/** Where the sources' own layers allocate the pieces (data or zeroes): ranges relative to the chunk. */
async function allocatedRanges(pieces: readonly Piece[]): Promise<Array<[number, number]>> {
  const ranges: Array<[number, number]> = [];
  let base = 0;
  for (const { source, sourceOffset, length } of pieces) {
    for (let at = 0; at < length; ) {
      const status = await source.blockStatus?.(sourceOffset + at, length - at);
      const step = status?.length ?? length - at;
      if (status?.allocated ?? true) {
        const last = ranges.at(-1);
        if (last && last[1] === base + at) last[1] = base + at + step;
        else ranges.push([base + at, base + at + step]);
      }
      at += step;
    }
    base += length;
  }
  return ranges;
}

async function writeCompressed(target: BlockNode, offset: number, cluster: Uint8Array, clusterSize: number): Promise<void> {
  if (!target.writeCompressed) throw new Error('Compression not supported for this file format');
  // The image's last cluster may be partial: it is stored padded with zeroes, as qemu-img does.
  const whole = cluster.length === clusterSize ? cluster : padded(cluster, clusterSize);
  return target.writeCompressed(offset, whole);
}

function padded(data: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(data);
  return out;
}

/** A write's failure as a WriteError naming its offset. */
async function guarded(offset: number, write: Promise<void>): Promise<void> {
  try {
    await write;
  } catch (error) {
    throw new WriteError(offset, error);
  }
}

/** Chunk `i` may write once chunk `i - 1` has written (or given up). */
class Turns {
  private next = 0;
  private readonly waiting = new Map<number, () => void>();
  /** Runs of chunks done ahead of their turn: first index -> index after the last. */
  private readonly finished = new Map<number, number>();

  wait(index: number): Promise<void> {
    if (index === this.next) return Promise.resolve();
    return new Promise((resolve) => this.waiting.set(index, resolve));
  }

  done(index: number): void {
    this.doneRun(index, index + 1);
  }

  /** Chunks `[from, to)` are done (a run of known zeroes skipped at once: one entry, not one per chunk). */
  doneRun(from: number, to: number): void {
    if (to <= from) return;
    this.finished.set(from, to);
    for (let end = this.finished.get(this.next); end !== undefined; end = this.finished.get(this.next)) {
      this.finished.delete(this.next);
      this.next = end;
    }
    const wake = this.waiting.get(this.next);
    if (wake) {
      this.waiting.delete(this.next);
      wake();
    }
  }
}

