/**
 * Reads share, writes are alone: a write changes L2 tables and refcounts in several awaited steps,
 * and a read (or another write) in between would see them half done.
 */
export class ReadWriteLock {
  private readers = 0;
  private writer = false;
  private readonly waiting: { write: boolean; wake: () => void }[] = [];

  async read<T>(body: () => Promise<T>): Promise<T> {
    if (this.writer || this.waiting.length) await new Promise<void>((wake) => this.waiting.push({ write: false, wake }));
    else this.readers++;
    try {
      return await body();
    } finally {
      this.readers--;
      this.next();
    }
  }

  async write<T>(body: () => Promise<T>): Promise<T> {
    if (this.writer || this.readers || this.waiting.length) await new Promise<void>((wake) => this.waiting.push({ write: true, wake }));
    else this.writer = true;
    try {
      return await body();
    } finally {
      this.writer = false;
      this.next();
    }
  }

  /** Wake the next writer when idle, or all readers queued before the next writer. */
  private next(): void {
    if (this.writer) return;
    while (this.waiting.length) {
      const head = this.waiting[0]!;
      if (head.write) {
        if (this.readers) return;
        this.waiting.shift();
        this.writer = true;
        head.wake();
        return;
      }
      this.waiting.shift();
      this.readers++;
      head.wake();
    }
  }
}
