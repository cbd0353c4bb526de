// READ requests of one connection that arrive together and follow each other in the export
// (nbdcopy reads a data extent as back-to-back 256 KiB requests) are read as one range: one
// allocation walk and one block-layer read per data run instead of one per request, each request
// then answered from its part of the range.
// Groups are paced by what the client has taken: a read from the page cache is a copy on the
// event loop, and the socket's send buffer holds about 200 KiB (unix) of replies, so a server
// that read every group of a turn before giving the loop back left its client nothing to read
// meanwhile. A group starts once the groups being read and the replies waiting to leave hold at
// most MAX_AHEAD bytes (one group always may), so reading and the client's receiving overlap.
import { allocationAt } from './allocation.ts';
import { BufferPool } from './buffer-pool.ts';
import type { NbdExport } from './export.ts';

/** What a read needs of a request. */
export interface ReadRequest {
  readonly offset: number;
  readonly length: number;
}

/** The replies a read sends (transmission.ts's Replies). */
export interface ReadReplies<R extends ReadRequest> {
  readonly structured: boolean;
  simple(request: R, errno: number, data?: Buffer, sent?: () => void): void;
  data(request: R, offset: number, data: Buffer, last: boolean, sent?: () => void): void;
  hole(request: R, offset: number, length: number, last: boolean, sent?: () => void): void;
  /** Bytes of replies waiting for the socket to take them: 0 while it takes writes, or once it is gone. */
  backlog(): number;
  /** Resolves once the socket takes writes again (at once when it takes them, or is gone). */
  drained(): Promise<void>;
}

/**
 * Bytes a connection's reads may be ahead of its client: being read, or read and waiting to
 * leave. nbdcopy of a 1 GiB qcow2 (bench/nbd-server.mjs, alternating rounds): without a bound
 * 707-726 ms, with 256 KiB 636-721, 512 KiB 603-724 (the steadiest), 1 MiB 650-748; qemu-nbd 671-693.
 */
const MAX_AHEAD = 512 * 1024;

/** Largest range read as one (the buffer pool's largest kept buffer, as qemu-nbd's largest request is 32 MiB). */
const MAX_BATCH = 4 * 1024 * 1024;

/** Read buffers, shared by every connection of the process. */
const buffers = new BufferPool();

interface Queued<R> {
  readonly request: R;
  readonly sparse: boolean;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface Run {
  readonly offset: number;
  length: number;
  readonly zero: boolean;
}

export class ReadBatcher<R extends ReadRequest> {
  private queued: Queued<R>[] = [];
  /** The connection's share of the buffer pool, given back by close(). */
  readonly close = buffers.open();

  constructor(
    private readonly image: NbdExport,
    private readonly replies: ReadReplies<R>,
  ) {}

  /**
   * Answer READ `request` (simple, or structured with holes sent as holes when `sparse`); settles
   * once its replies are queued. Requests that arrive in the same turn of the event loop are
   * looked at together.
   */
  read(request: R, sparse: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.queued.push({ request, sparse, resolve, reject }) === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const queued = this.queued;
    this.queued = [];
    for (let i = 0; i < queued.length; ) {
      const group = [queued[i]!];
      let end = group[0]!.request.offset + group[0]!.request.length;
      for (i++; i < queued.length; i++) {
        const next = queued[i]!;
        if (next.sparse !== group[0]!.sparse || next.request.offset !== end || end + next.request.length - group[0]!.request.offset > MAX_BATCH) break;
        group.push(next);
        end += next.request.length;
      }
      this.waiting.push(group);
    }
    if (!this.pumping) void this.pump();
  }

  /** Groups not started yet, in the order they came. */
  private waiting: Queued<R>[][] = [];
  private pumping = false;
  /** Bytes of the groups being read. */
  private reading = 0;
  private groupDone: (() => void) | undefined;

  /** Start the waiting groups, each once the connection's reads are no more than MAX_AHEAD ahead of its client. */
  private async pump(): Promise<void> {
    this.pumping = true;
    while (this.waiting.length > 0) {
      const group = this.waiting[0]!;
      const bytes = spanOf(group);
      const backlog = this.replies.backlog();
      if (this.reading > 0 && this.reading + bytes + backlog > MAX_AHEAD) {
        await new Promise<void>((resolve) => (this.groupDone = resolve));
        continue;
      }
      if (this.reading === 0 && backlog > MAX_AHEAD) {
        await this.replies.drained();
        continue;
      }
      this.waiting.shift();
      this.reading += bytes;
      void this.serve(group).then(() => {
        this.reading -= bytes;
        const done = this.groupDone;
        this.groupDone = undefined;
        done?.();
      });
    }
    this.pumping = false;
  }

  private async serve(group: Queued<R>[]): Promise<void> {
    try {
      await readRange(this.image, this.replies, group.map((q) => q.request), group[0]!.sparse);
      for (const q of group) q.resolve();
    } catch (error) {
      if (group.length === 1) return group[0]!.reject(error);
      // Each on its own: a failure is then told for the request it is in, as without batching.
      for (const q of group) readRange(this.image, this.replies, [q.request], q.sparse).then(q.resolve, q.reject);
    }
  }
}

/**
 * Read the range that `requests` (adjacent, in order) cover, then answer each from its part. An
 * error fails before any reply went out (every data run is read first).
 */
async function readRange<R extends ReadRequest>(image: NbdExport, replies: ReadReplies<R>, requests: readonly R[], sparse: boolean): Promise<void> {
  const start = requests[0]!.offset;
  const last = requests[requests.length - 1]!;
  const end = last.offset + last.length;
  const pooled = buffers.take(end - start);
  const buffer = pooled.bytes;
  // Given back once the last request's replies have left.
  let unsent = requests.length;
  const sent = () => {
    if (--unsent === 0) pooled.release();
  };
  try {
    const runs = sparse ? await allocation(image, start, end) : [{ offset: start, length: end - start, zero: false }];
    const part = (offset: number, length: number) => buffer.subarray(offset - start, offset - start + length);
    await Promise.all(runs.map((run) => (run.zero || run.length === 0 ? undefined : image.read(run.offset, part(run.offset, run.length)))));
    for (const request of requests) {
      if (!sparse || request.length === 0) {
        const data = part(request.offset, request.length);
        if (replies.structured) replies.data(request, request.offset, data, true, sent);
        else replies.simple(request, 0, data, sent);
        continue;
      }
      const mine = within(runs, request.offset, request.offset + request.length);
      mine.forEach((run, i) => {
        const isLast = i === mine.length - 1;
        if (run.zero) replies.hole(request, run.offset, run.length, isLast, isLast ? sent : undefined);
        else replies.data(request, run.offset, part(run.offset, run.length), isLast, isLast ? sent : undefined);
      });
    }
  } catch (error) {
    pooled.release();
    throw error;
  }
}

/** The bytes a group's requests cover. */
function spanOf<R extends ReadRequest>(group: readonly Queued<R>[]): number {
  const last = group[group.length - 1]!.request;
  return last.offset + last.length - group[0]!.request.offset;
}

/** Runs of data and zeroes covering [start, end), neighbours alike merged. */
async function allocation(image: NbdExport, start: number, end: number): Promise<Run[]> {
  const runs: Run[] = [];
  for (let at = start; at < end; ) {
    const run = await allocationAt(image.node, at, end - at);
    const previous = runs[runs.length - 1];
    if (previous && previous.zero === run.zero) previous.length += run.length;
    else runs.push({ offset: at, length: run.length, zero: run.zero });
    at += run.length;
  }
  return runs;
}

/** The parts of `runs` (sorted, covering a range that holds [from, to)) inside [from, to). */
function within(runs: readonly Run[], from: number, to: number): Run[] {
  const out: Run[] = [];
  for (const run of runs) {
    const start = Math.max(from, run.offset);
    const end = Math.min(to, run.offset + run.length);
    if (start < end) out.push({ offset: start, length: end - start, zero: run.zero });
  }
  return out;
}
