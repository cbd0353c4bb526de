import type { BlockNode } from '@tessera/core';
import { ReadAhead } from './read-ahead.ts';

/**
 * A BlockNode seen as v86's duck-typed IDE disk (an object with `get`, `set` and `load`).
 *
 * Every guest access becomes an asynchronous block-layer call, so emulation never waits on the
 * host. The calls run one after another in arrival order: v86 does not wait for a PIO write to
 * finish before it lets the guest read the same sectors again, and ordering keeps those reads
 * from seeing stale data.
 */
export class V86Disk {
  /** v86 calls this once `load()` is done. */
  onload: ((event: object) => void) | undefined;
  onprogress: ((event: object) => void) | undefined;
  /** The size v86 sees; a floppy of no standard size is shown another one while v86 picks its geometry (machine-options/floppy.ts). */
  byteLength: number;
  /** Bytes v86 asked to keep (the MBR, read for the disk's geometry), by offset. */
  private readonly cache = new Map<number, Uint8Array>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Requests queued and not finished: a read is answered from `readAhead` only when none is. */
  private pending = 0;
  /** Counts `set` calls: a window read while the guest wrote is not kept (it may miss that write). */
  private writes = 0;
  private readonly readAhead = new ReadAhead();
  private failure: Error | undefined;
  /**
   * Set by the IDE device while it hands this disk a DMA write (src/machine/refused-write-ide.ts):
   * completes that write with an error if the block layer refuses it. (A PIO write has completed
   * for the guest before its data gets here, so it cannot fail.)
   */
  failNextWrite: (() => void) | undefined;

  constructor(
    private readonly node: BlockNode,
    /** Told of a host I/O error: the guest cannot be given a meaningful result then. */
    private readonly onError: (error: Error) => void,
    /**
     * Told of a write the block layer refused (EPERM: it would make a probed raw image look like
     * another format). The machine goes on; the sectors keep their old content.
     */
    private readonly onWriteRefused: (error: Error) => void = onError,
  ) {
    this.byteLength = node.size;
  }

  /** The image's real size (byteLength may differ while v86 inserts a floppy). */
  get imageSize(): number {
    return this.node.size;
  }

  load(): void {
    this.onload?.({});
  }

  get(offset: number, length: number, callback: (data: Uint8Array) => void, options?: { signal?: AbortSignal }): void {
    // Synchronous, as v86's in-memory disks answer, when nothing queued could change the bytes.
    const hit = this.pending === 0 ? this.readAhead.lookup(offset, length) : undefined;
    if (hit) return callback(hit);
    const writes = this.writes;
    this.enqueue(
      () => this.read(offset, length, writes),
      (data) => options?.signal?.aborted || callback(data),
    );
  }

  set(offset: number, data: Uint8Array, callback?: () => void): void {
    const fail = this.failNextWrite;
    // v86 may reuse its buffer as soon as this returns: keep a copy for the deferred write.
    const copy = data.slice();
    this.updateCache(offset, copy);
    this.writes++;
    this.readAhead.update(offset, copy);
    this.enqueue(async () => {
      try {
        await this.node.write(offset, copy);
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'EPERM') throw error;
        this.readAhead.drop(offset, copy.length);
        // The user is told; a DMA write ends with an error the guest sees (ERR/ABRT). A PIO write
        // has already completed for the guest (v86 finishes it before the data lands): dropped.
        this.onWriteRefused(error as Error);
        if (fail) return fail();
      }
      callback?.();
    });
  }

  get_and_cache(offset: number, length: number, callback: (data: Uint8Array) => void): void {
    this.get(offset, length, (data) => {
      this.cache.set(offset, data);
      callback(data);
    });
  }

  /** Synchronous: only what `get_and_cache` fetched before. */
  get_from_cache(offset: number, length: number): Uint8Array | undefined {
    const cached = this.cache.get(offset);
    return cached && cached.length >= length ? cached.subarray(0, length) : undefined;
  }

  get_buffer(callback: (buffer: ArrayBuffer | undefined) => void): void {
    callback(undefined); // the image stays on the host: never copied whole into memory
  }

  get_state(): unknown[] {
    return []; // save/restore of machine state is not offered
  }

  set_state(): void {}

  /** Resolves when every request so far is done (failures were reported through `onError`). */
  async drain(): Promise<void> {
    await this.queue;
  }

  /** The first host I/O error, if any. */
  get failed(): Error | undefined {
    return this.failure;
  }

  /** [offset, offset + length) from the read-ahead windows, or from the host (the window around it when one holds it). */
  private async read(offset: number, length: number, writesWhenAsked: number): Promise<Uint8Array> {
    const cached = this.readAhead.lookup(offset, length);
    if (cached) return cached;
    const span = this.readAhead.span(offset, length, this.node.size);
    if (!span) {
      const data = new Uint8Array(length);
      await this.node.read(offset, data);
      return data;
    }
    const window = new Uint8Array(span.end - span.start);
    await this.node.read(span.start, window);
    // A write asked for since this read was queued runs after it: the window would lack it.
    if (writesWhenAsked === this.writes) this.readAhead.store(span.start, window);
    return window.slice(offset - span.start, offset - span.start + length);
  }

  /**
   * Run `operation` after every request before it; `then` gets its result once it no longer
   * counts as pending (v86 may ask for more from within `then`, which can then be answered at once).
   */
  private enqueue<T>(operation: () => Promise<T>, then?: (result: T) => void): void {
    this.pending++;
    this.queue = this.queue.then(async () => {
      let result: T;
      try {
        result = await operation();
      } catch (error) {
        this.pending--;
        return this.fail(error);
      }
      this.pending--;
      try {
        then?.(result);
      } catch (error) {
        this.fail(error);
      }
    });
  }

  private fail(error: unknown): void {
    const failure = error instanceof Error ? error : new Error(String(error));
    this.failure ??= failure;
    this.onError(failure);
  }

  private updateCache(offset: number, data: Uint8Array): void {
    for (const [start, cached] of this.cache) {
      const from = Math.max(start, offset);
      const to = Math.min(start + cached.length, offset + data.length);
      if (from < to) cached.set(data.subarray(from - offset, to - offset), from - start);
    }
  }
}
