// The writes one file is given in one turn of the event loop, made by one thread-pool job.
//
// A convert writes each 2 MiB chunk as the runs of data between its zero runs: a fragmented
// image gives a dozen writes per chunk, 7,900 per GiB. Through fs.write each is a hand-off to a
// pool thread and one back, and on two CPUs the woken thread takes the CPU of the thread that
// woke it (the main thread, which also reads the source). Batched, a chunk costs one of each.
import { getSystemErrorMap } from 'node:util';
import { writeAt } from './fd.ts';
import type { OfdLocks } from './native-lock.ts';

interface Queued {
  readonly data: Uint8Array;
  readonly position: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export class WriteBatch {
  private queued: Queued[] = [];

  constructor(
    private readonly fd: number,
    /** The addon when loaded (an image that took a lock has it); without it each write goes through fs.write. */
    private readonly addon: () => OfdLocks | undefined,
  ) {}

  /** Write all of `data` at `position`: with the other writes of this turn when the addon is there. */
  write(data: Uint8Array, position: number): Promise<void> {
    if (data.length === 0) return Promise.resolve();
    if (!this.addon()) return writeWhole(this.fd, data, position);
    return new Promise((resolve, reject) => {
      if (this.queued.length === 0) process.nextTick(() => this.flush());
      this.queued.push({ data, position, resolve, reject });
    });
  }

  private flush(): void {
    const queued = this.queued;
    this.queued = [];
    if (queued.length === 1) {
      const [only] = queued;
      writeWhole(this.fd, only!.data, only!.position).then(only!.resolve, only!.reject);
      return;
    }
    for (let at = 0; at < queued.length; at += MAX_BATCH) this.job(queued.slice(at, at + MAX_BATCH));
  }

  private job(writes: readonly Queued[]): void {
    let done: Promise<number[]>;
    try {
      done = this.addon()!.writeBatch(this.fd, writes.map((write) => write.data), writes.map((write) => write.position));
    } catch (error) {
      done = Promise.reject(error as Error);
    }
    done.then(
      (errors) => writes.forEach((write, i) => (errors[i] === 0 ? write.resolve() : write.reject(systemError(errors[i]!)))),
      (error: Error) => writes.forEach((write) => write.reject(error)),
    );
  }
}

/** The most writes one job takes (the addon's limit): a turn with more makes several jobs. */
const MAX_BATCH = 4096;

async function writeWhole(fd: number, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) done += await writeAt(fd, data, done, data.length - done, position + done);
}

/** A failed write as Node words one ("ENOSPC: no space left on device, write"), with its code and errno. */
function systemError(errno: number): Error {
  const [code, description] = getSystemErrorMap().get(-errno) ?? [`E${errno}`, `error ${errno}`];
  return Object.assign(new Error(`${code}: ${description}, write`), { errno: -errno, code, syscall: 'write' });
}
