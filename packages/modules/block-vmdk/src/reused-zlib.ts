/**
 * One zlib inflate or deflate state, reset between streams, for the many small zlib streams of a
 * streamOptimized image (one per 64 KiB grain). node:zlib's inflateSync and deflateSync set up a
 * new zlib object each call (the native state, its 32 KiB window, an output buffer): about 300 µs
 * a grain, more than inflating a grain takes (6 µs for a stored grain, 40 µs for a compressed
 * one), and 2-3 times qemu-img's CPU for a whole convert. node:zlib has no public way to reuse
 * one, so this drives the native handle behind a zlib stream object directly (as the *Sync
 * functions do inside), and falls back to them where that handle is not what it expects. A reset
 * state works as a new one: a deflate's output is the same bytes as deflateSync's.
 */
import { constants, createDeflate, createInflate, deflateSync, inflateSync } from 'node:zlib';

/** The part of node:zlib's native handle used here. */
interface NativeZlib {
  writeSync(flush: number, input: Uint8Array, inOffset: number, inLength: number, output: Uint8Array, outOffset: number, outLength: number): void;
  reset(): void;
  onerror: (message: string, errno: number) => void;
}

export class ReusedZlib {
  private handle: NativeZlib | undefined;
  /** The handle's [output bytes left, input bytes left] after each write. */
  private state: Uint32Array | undefined;
  private failure: string | undefined;
  private readonly probe = new Uint8Array(1);

  /**
   * `level` given: deflate at that level; absent: inflate. `reuse` false takes the *Sync path
   * every time (what a Node whose zlib handle differs gets; tests run both).
   */
  constructor(
    private readonly level?: number,
    private readonly reuse = true,
  ) {
    this.open();
  }

  private open(): void {
    if (!this.reuse) return;
    const stream = (this.level === undefined ? createInflate() : createDeflate({ level: this.level })) as unknown as { _handle?: Partial<NativeZlib>; _writeState?: unknown };
    const handle = stream._handle;
    if (typeof handle?.writeSync === 'function' && typeof handle.reset === 'function' && stream._writeState instanceof Uint32Array) {
      this.handle = handle as NativeZlib;
      this.state = stream._writeState;
      this.handle.onerror = (message) => void (this.failure = message);
    }
  }

  /**
   * Inflate the zlib stream `data` (deflate `data` into a zlib stream) into `into`: the bytes
   * written (`into.length + 1` when there are more than fit), or an error message (a damaged or
   * truncated stream).
   */
  run(data: Uint8Array, into: Uint8Array): number | string {
    const handle = this.handle;
    if (!handle) return this.runOnce(data, into);
    const state = this.state!;
    this.failure = undefined;
    // Z_FINISH: a stream that does not end in `data` while room is left fails ("unexpected end of file").
    handle.writeSync(constants.Z_FINISH, data, 0, data.length, into, 0, into.length);
    let produced = into.length - state[0]!;
    if (this.failure === undefined && produced === into.length) {
      // `into` is full: the stream must end there, so one more byte of room gets nothing.
      const left = state[1]!;
      handle.writeSync(constants.Z_FINISH, data, data.length - left, left, this.probe, 0, 1);
      if (state[0] === 0) produced++;
    }
    const failure = this.failure;
    if (failure !== undefined) {
      // The state after an error is not to be trusted: start afresh.
      this.open();
      return failure;
    }
    handle.reset();
    return produced;
  }

  private runOnce(data: Uint8Array, into: Uint8Array): number | string {
    try {
      // One byte of room more than `into`, so "more than fits" reads as the reused path's into.length + 1.
      const options = { maxOutputLength: into.length + 1 };
      const result = this.level === undefined ? inflateSync(data, options) : deflateSync(data, { ...options, level: this.level });
      into.set(result.subarray(0, into.length));
      return result.length;
    } catch (error) {
      return (error as Error).message;
    }
  }
}
