/** A run of the export whose base:allocation flags a block status reply told. */
interface Known {
  start: number;
  end: number;
  readonly flags: number;
}

/** Runs kept at most: past this the cache starts over (a reply of a fragmented 1 GiB export has ~30k). */
const MAX_RUNS = 1 << 16;

/**
 * What block status replies said, as sorted non-overlapping runs looked up by binary search. A
 * write forgets only the runs it overlaps, so `convert`'s workers, writing beside each other,
 * keep each other's replies (one request per chunk rather than one per write in between).
 */
export class StatusCache {
  private runs: Known[] = [];

  /** The run holding `offset`, trimmed to start there; undefined when no reply told. */
  lookup(offset: number): { length: number; flags: number } | undefined {
    const i = this.firstEndingAfter(offset);
    const run = this.runs[i];
    if (!run || run.start > offset) return undefined;
    return { length: run.end - offset, flags: run.flags };
  }

  /** A reply's runs, `start` onwards, replacing what was known there. */
  add(start: number, extents: ReadonlyArray<{ length: number; flags: number }>): void {
    const fresh: Known[] = [];
    let at = start;
    for (const { length, flags } of extents) {
      const last = fresh.at(-1);
      if (last && last.flags === flags) last.end += length;
      else fresh.push({ start: at, end: at + length, flags });
      at += length;
    }
    if (at === start) return;
    if (this.runs.length + fresh.length > MAX_RUNS) this.runs = [];
    this.replace(start, at, fresh);
  }

  /** `[start, end)` changed (written): what was known there is dropped. */
  forget(start: number, end: number): void {
    if (this.runs.length) this.replace(start, end, []);
  }

  clear(): void {
    this.runs = [];
  }

  /** Runs overlapping `[start, end)` are cut back to outside it, and `fresh` put in its place. */
  private replace(start: number, end: number, fresh: Known[]): void {
    const from = this.firstEndingAfter(start);
    let to = from;
    while (to < this.runs.length && this.runs[to]!.start < end) to++;
    if (from === to && fresh.length === 0) return;
    const kept: Known[] = [];
    const first = this.runs[from];
    if (first && first.start < start && from < to) kept.push({ start: first.start, end: start, flags: first.flags });
    kept.push(...fresh);
    const last = this.runs[to - 1];
    if (last && last.end > end && from < to) kept.push({ start: end, end: last.end, flags: last.flags });
    // splice's arguments are bounded by the stack: a long reply is put in by concatenation.
    if (kept.length < 1024) this.runs.splice(from, to - from, ...kept);
    else this.runs = this.runs.slice(0, from).concat(kept, this.runs.slice(to));
  }

  /** Index of the first run that ends after `offset` (runs.length when none does). */
  private firstEndingAfter(offset: number): number {
    let low = 0;
    let high = this.runs.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.runs[mid]!.end <= offset) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
