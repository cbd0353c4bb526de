// The refcount every host cluster should have, counted from the metadata that references it.
// A region that reaches a cluster or more past the end of the file is a corruption and is not
// counted, so the array never grows beyond the file (plus the one cluster a last, partly
// written cluster may reach).
import { CheckTally, hex } from './result.ts';

/** Clusters the check keeps a count for at most (4 bytes each): 512 MiB of counters. */
export const MAX_CHECKED_CLUSTERS = 2 ** 27;

export class ReferenceCounts {
  private counts: Uint32Array;
  /** Clusters compared with the stored refcounts: the file's, or more when a reference reaches past its end. */
  clusters: number;

  constructor(
    private readonly clusterSize: number,
    private fileSize: number,
    /** The largest refcount the image's entry width can hold. */
    private readonly refcountMax: bigint,
    private readonly tally: CheckTally,
  ) {
    this.clusters = Math.ceil(fileSize / clusterSize);
    // Grown as references arrive: a sparse file may be far larger than what its metadata reaches.
    this.counts = new Uint32Array(Math.min(this.clusters + 1, 65536));
  }

  /** One past the last cluster counted: beyond it, only stored refcounts can differ. */
  counted = 0;

  /** Whether any cluster in `[first, end)` is counted. */
  anyIn(first: number, end: number): boolean {
    if (first >= this.counted) return false;
    const counts = this.counts;
    for (let c = first, stop = Math.min(end, counts.length); c < stop; c++) if (counts[c] !== 0) return true;
    return false;
  }

  get(cluster: number): number {
    return this.counts[cluster] ?? 0;
  }

  /** The file was grown to `size` (a repair made room for a refcount block that lay past its end). */
  fileGrew(size: number): void {
    this.fileSize = Math.max(this.fileSize, size);
    this.ensure(Math.ceil(this.fileSize / this.clusterSize));
  }

  /** Whether a file of `size` bytes stays within the clusters a check can count. */
  canGrowTo(size: number): boolean {
    return Math.ceil(size / this.clusterSize) + 1 <= MAX_CHECKED_CLUSTERS;
  }

  /** Count a cluster nothing references as used once (a new refcount structure's). */
  claim(cluster: number): void {
    this.ensure(cluster + 1);
    this.grow(cluster + 1);
    this.counts[cluster] = 1;
    this.counted = Math.max(this.counted, cluster + 1);
  }

  /** `clusters` clusters are compared (counters are made as references arrive). */
  private ensure(clusters: number): void {
    this.clusters = Math.max(this.clusters, clusters);
  }

  /** Counters for `clusters` clusters (doubling, so a walk in order grows in few steps). */
  private grow(clusters: number): void {
    if (clusters + 1 > MAX_CHECKED_CLUSTERS) throw new Error(`the image's metadata reaches too far to check (${clusters} clusters)`);
    if (clusters + 1 > this.counts.length) {
      const grown = new Uint32Array(Math.max(clusters + 1, Math.min(MAX_CHECKED_CLUSTERS, this.counts.length * 2)));
      grown.set(this.counts);
      this.counts = grown;
    }
  }

  /** One more reference to every cluster that `[offset, offset + size)` touches. */
  add(offset: bigint, size: number): void {
    if (size <= 0) return;
    const cs = BigInt(this.clusterSize);
    if (offset + BigInt(size) - BigInt(this.fileSize) >= cs) {
      this.tally.corrupt(
        `ERROR: counting reference for region exceeding the end of the file by one cluster or more: offset 0x${hex(offset)} size 0x${hex(size)}`,
      );
      return;
    }
    const first = Number(offset / cs);
    const last = Number((offset + BigInt(size) - 1n) / cs);
    if (last >= this.counts.length) this.grow(last + 1);
    for (let cluster = first; cluster <= last; cluster++) {
      const value = this.counts[cluster]!;
      if (BigInt(value) >= this.refcountMax || value === 0xffffffff) {
        this.tally.corrupt(`ERROR: overflow cluster offset=0x${hex(BigInt(cluster) * cs)}`);
        this.tally.messages.push(
          'Use qemu-img amend to increase the refcount entry width or qemu-img convert to create a clean copy if the image cannot be opened for writing',
        );
        continue;
      }
      this.counts[cluster] = value + 1;
      if (cluster >= this.counted) this.counted = cluster + 1;
      if (cluster >= this.clusters) this.clusters = cluster + 1;
    }
  }
}
