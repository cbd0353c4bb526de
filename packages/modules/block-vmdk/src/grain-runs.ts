/**
 * File I/O of allocated grains, gathered: a read or write walks its range grain by grain, and
 * grains that lie one after the other in the file and in the caller's buffer become one read or
 * write of the file (a freshly converted image stores most data that way), instead of one each.
 */
export class GrainRuns {
  private run: { at: number; from: number; length: number } | undefined;

  /** `io` reads or writes `part` of `buffer` at file offset `at`. */
  constructor(
    private readonly io: (at: number, part: Uint8Array) => Promise<unknown>,
    private readonly buffer: Uint8Array,
  ) {}

  /** `length` bytes at file offset `at` belong to the buffer at `from`. */
  async add(at: number, from: number, length: number): Promise<void> {
    const run = this.run;
    if (run && run.at + run.length === at && run.from + run.length === from) {
      run.length += length;
      return;
    }
    await this.flush();
    this.run = { at, from, length };
  }

  /** Do the gathered I/O; call before touching the file or buffer some other way, and at the end. */
  async flush(): Promise<void> {
    const run = this.run;
    if (!run) return;
    this.run = undefined;
    await this.io(run.at, this.buffer.subarray(run.from, run.from + run.length));
  }
}
