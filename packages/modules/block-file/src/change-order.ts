// The order in which one file's changes (writes, truncates) reach the kernel.
//
// A buffered write holds the file's inode lock while it copies into the page cache. A second
// write does not sleep meanwhile: it spins on the lock, taking a CPU from the copy it waits for
// and from the reads beside it (rwsem_spin_on_owner was 29% of an 8 GiB raw -> vhdx convert's
// profile on two CPUs when two 2 MiB writes met). So a large write runs alone: after every change
// issued before it, and before every change issued after it, as qemu's writes reach the kernel.
// Smaller writes run beside each other: waiting costs each a hand-off to the thread pool and back,
// and drains the convert's pipeline at every large one. A 2 GiB convert of finely fragmented data
// (15,800 writes of 4 KiB to 2 MiB) took 0.96-1.00 s with every write from 128 KiB on alone, and
// 0.62-0.64 s from 1 MiB on, as fast as with none alone; whole 2 MiB chunks, where the spinning
// was found, still run alone. A truncate runs alone whatever its size. Reads are not ordered here:
// they take no such lock.

/** Writes of this many bytes or more run alone. */
export const WRITES_ALONE_FROM = 1024 * 1024;

const ignore = (): void => undefined;

export class ChangeOrder {
  /** Settles when the last change that runs alone, and everything issued before it, has finished. */
  private lastAlone: Promise<void> = Promise.resolve();
  /** Changes that run alone, issued and not yet finished: small writes issued meanwhile wait for them. */
  private aloneIssued = 0;
  /** Small writes issued since the last change that runs alone, not yet finished. */
  private beside = new Set<Promise<void>>();

  /** Runs `change` once every change issued before it has finished; changes issued after it wait for it. */
  alone<T>(change: () => Promise<T>): Promise<T> {
    const before = [this.lastAlone, ...this.beside];
    this.beside = new Set();
    this.aloneIssued++;
    const result = Promise.all(before).then(change);
    this.lastAlone = result.then(ignore, ignore).then(() => {
      this.aloneIssued--;
    });
    return result;
  }

  /** Runs `change` at once beside other small ones, or after the changes that run alone issued before it. */
  small<T>(change: () => Promise<T>): Promise<T> {
    const result = this.aloneIssued === 0 ? change() : this.lastAlone.then(change);
    const settled = result.then(ignore, ignore);
    const set = this.beside;
    set.add(settled);
    void settled.then(() => set.delete(settled));
    return result;
  }

  /** Runs a write of `bytes` bytes in its place: alone when large, beside others when small. */
  write<T>(bytes: number, change: () => Promise<T>): Promise<T> {
    return bytes >= WRITES_ALONE_FROM ? this.alone(change) : this.small(change);
  }
}
