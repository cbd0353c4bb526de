// librbd's asynchronous I/O without callbacks into JavaScript. A synchronous rbd_read/rbd_write
// run through koffi's `.async` holds one libuv pool thread for the whole round trip, and the pool
// is as small as the machine (2 threads here, shared with the local file's I/O): two requests in
// flight at most. librbd's own completion callbacks would run JavaScript on librbd's threads,
// which aborts Node. So: every request is an rbd_aio_* with a completion that has no callback;
// librbd notifies completions by writing to a pipe (rbd_set_image_notification), which the event
// loop watches like any socket, and the main thread collects them with rbd_poll_io_events.
// Completions are handled as 64-bit integers (rbd_completion_t is a pointer, passed in the same
// register), so finished ones map straight back to their requests.
import { Socket } from 'node:net';
import { koffi } from './koffi-addon.ts';
import type { KoffiFunction } from './koffi-types.ts';
import type { Handle } from './librbd.ts';

interface AioCalls {
  readonly rbd_set_image_notification: KoffiFunction;
  readonly rbd_poll_io_events: KoffiFunction;
  readonly rbd_aio_create_completion: KoffiFunction;
  readonly rbd_aio_get_return_value: KoffiFunction;
  readonly rbd_aio_release: KoffiFunction;
  readonly rbd_aio_read: KoffiFunction;
  readonly rbd_aio_write: KoffiFunction;
  /** Since Octopus (15); absent: write-zeroes stays a blocking call on a worker thread. */
  readonly rbd_aio_write_zeroes?: KoffiFunction;
  readonly pipe2: KoffiFunction;
  readonly close: KoffiFunction;
}

/** librbd's EVENT_TYPE_PIPE: one byte written to the fd per completion. */
const EVENT_TYPE_PIPE = 1;
const O_CLOEXEC = 0o2000000;
const O_NONBLOCK = 0o4000;
/** Completions collected per rbd_poll_io_events call. */
const POLL_BATCH = 64;
/**
 * Typed arrays this small may live on V8's heap, where the collector moves them: librbd writes
 * into the buffer after the call returns, so such a request goes through an off-heap copy.
 */
const ON_HEAP_LIMIT = 64;
const EMPTY = Buffer.alloc(0);

let calls: AioCalls | null | undefined;

/** The calls, bound once; null when this librbd lacks one of them (then the node uses worker threads). */
function bind(): AioCalls | null {
  if (calls !== undefined) return calls;
  try {
    const k = koffi();
    const rbd = k.load('librbd.so.1');
    const libc = k.load('libc.so.6');
    calls = {
      rbd_set_image_notification: rbd.func('int rbd_set_image_notification(void *image, int fd, int type)'),
      rbd_poll_io_events: rbd.func('int rbd_poll_io_events(void *image, _Out_ uint8_t *comps, int numcomp)'),
      rbd_aio_create_completion: rbd.func('int rbd_aio_create_completion(void *cb_arg, void *complete_cb, _Out_ uint64_t *c)'),
      rbd_aio_get_return_value: rbd.func('int64_t rbd_aio_get_return_value(uint64_t c)'),
      rbd_aio_release: rbd.func('void rbd_aio_release(uint64_t c)'),
      rbd_aio_read: rbd.func('int rbd_aio_read(void *image, uint64_t off, size_t len, _Out_ uint8_t *buf, uint64_t c)'),
      rbd_aio_write: rbd.func('int rbd_aio_write(void *image, uint64_t off, size_t len, const uint8_t *buf, uint64_t c)'),
      rbd_aio_write_zeroes: optionalFunc(() => rbd.func('int rbd_aio_write_zeroes(void *image, uint64_t off, size_t len, uint64_t c, int zero_flags, int op_flags)')),
      pipe2: libc.func('int pipe2(_Out_ int *fds, int flags)'),
      close: libc.func('int close(int fd)'),
    };
  } catch {
    calls = null;
  }
  return calls;
}

function optionalFunc(bind: () => KoffiFunction): KoffiFunction | undefined {
  try {
    return bind();
  } catch {
    return undefined;
  }
}

interface Pending {
  /** Kept referenced until librbd is done with it. */
  readonly buffer: Uint8Array;
  readonly resolve: (result: number) => void;
}

/** The asynchronous requests of one open image. */
export class RbdAio {
  private readonly pending = new Map<bigint, Pending>();
  private readonly events = Buffer.alloc(8 * POLL_BATCH);
  private readonly completionOut: bigint[] = [0n];

  private constructor(
    private readonly lib: AioCalls,
    private readonly image: Handle,
    private readonly watch: Socket,
    private readonly writeFd: number,
  ) {
    watch.on('data', () => this.collect());
    // Nothing to do with read errors of our own pipe but to keep them from being thrown.
    watch.on('error', () => undefined);
    watch.unref();
  }

  /** Set up notification for `image`; undefined when librbd or the system cannot (callers fall back). */
  static open(image: Handle): RbdAio | undefined {
    const lib = bind();
    if (!lib) return undefined;
    const fds = new Int32Array(2);
    if ((lib.pipe2(fds, O_CLOEXEC | O_NONBLOCK) as number) !== 0) return undefined;
    const [readFd, writeFd] = [fds[0]!, fds[1]!];
    if ((lib.rbd_set_image_notification(image, writeFd, EVENT_TYPE_PIPE) as number) < 0) {
      lib.close(readFd);
      lib.close(writeFd);
      return undefined;
    }
    // The read end becomes a libuv pipe handle (it owns and closes that descriptor).
    const watch = new Socket({ fd: readFd, readable: true, writable: false });
    return new RbdAio(lib, image, watch, writeFd);
  }

  /** Read into `into`; resolves with librbd's result (bytes read, or -errno). */
  read(offset: number, into: Uint8Array): Promise<number> {
    if (into.byteLength > ON_HEAP_LIMIT) return this.submit(this.lib.rbd_aio_read, offset, into);
    const bounce = Buffer.allocUnsafeSlow(into.byteLength);
    return this.submit(this.lib.rbd_aio_read, offset, bounce).then((result) => {
      into.set(bounce);
      return result;
    });
  }

  /** Write `data`; resolves with librbd's result (≥ 0, or -errno). */
  write(offset: number, data: Uint8Array): Promise<number> {
    // Buffer.from copies a small one off V8's heap.
    return this.submit(this.lib.rbd_aio_write, offset, data.byteLength > ON_HEAP_LIMIT ? data : Buffer.from(data));
  }

  /** Whether `writeZeroes` is there (librbd since Octopus). */
  get canWriteZeroes(): boolean {
    return this.lib.rbd_aio_write_zeroes !== undefined;
  }

  /** librbd's write-zeroes (`flags`: its zero_flags); resolves with its result (≥ 0, or -errno). */
  writeZeroes(offset: number, length: number, flags: number): Promise<number> {
    const fn = this.lib.rbd_aio_write_zeroes!;
    return this.start((completion) => fn(this.image, offset, length, completion, flags, 0) as number, EMPTY);
  }

  /** After rbd_close (which waits for every request): stop watching, close the pipe. */
  end(): void {
    this.watch.destroy();
    this.lib.close(this.writeFd);
  }

  private submit(fn: KoffiFunction, offset: number, buffer: Uint8Array): Promise<number> {
    return this.start((completion) => fn(this.image, offset, buffer.byteLength, buffer, completion) as number, buffer);
  }

  /** Make a completion, start the request with it, and resolve with its result when collected. */
  private start(request: (completion: bigint) => number, buffer: Uint8Array): Promise<number> {
    const lib = this.lib;
    const created = lib.rbd_aio_create_completion(null, null, this.completionOut) as number;
    if (created < 0) return Promise.resolve(created);
    const completion = BigInt(this.completionOut[0]!);
    const result = new Promise<number>((resolve) => this.pending.set(completion, { buffer, resolve }));
    const started = request(completion);
    if (started < 0) {
      this.pending.delete(completion);
      lib.rbd_aio_release(completion);
      return Promise.resolve(started);
    }
    // Keep the process alive while requests are out (the pipe is unref'd when idle).
    if (this.pending.size === 1) this.watch.ref();
    return result;
  }

  /** The pipe became readable: collect every finished completion (the bytes themselves mean nothing). */
  private collect(): void {
    const lib = this.lib;
    for (;;) {
      const count = lib.rbd_poll_io_events(this.image, this.events, POLL_BATCH) as number;
      for (let i = 0; i < count; i++) {
        const completion = this.events.readBigUInt64LE(i * 8);
        const result = Number(lib.rbd_aio_get_return_value(completion));
        lib.rbd_aio_release(completion);
        const request = this.pending.get(completion);
        this.pending.delete(completion);
        request?.resolve(result);
      }
      if (count < POLL_BATCH) break;
    }
    if (this.pending.size === 0) this.watch.unref();
  }
}
