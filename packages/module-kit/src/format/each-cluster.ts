/**
 * Visit, in order, the clusters (or blocks) a guest range touches: the cluster's index, the offset
 * within it, where the piece starts in the range, and its length (never past the cluster's end).
 * One at a time: a visit may allocate, and allocations must not interleave.
 */
export async function eachCluster(
  offset: number,
  length: number,
  clusterSize: number,
  visit: (cluster: number, within: number, at: number, n: number) => Promise<void>,
): Promise<void> {
  for (let at = 0; at < length; ) {
    const cluster = Math.floor((offset + at) / clusterSize);
    const within = (offset + at) % clusterSize;
    const n = Math.min(length - at, clusterSize - within);
    await visit(cluster, within, at, n);
    at += n;
  }
}

/** The same walk as pieces to iterate: `[at, n]`, the guest offset of each piece and its length. */
export function* clusterPieces(offset: number, length: number, clusterSize: number): Generator<[at: number, length: number]> {
  for (let done = 0; done < length; ) {
    const at = offset + done;
    const n = Math.min(length - done, clusterSize - (at % clusterSize));
    yield [at, n];
    done += n;
  }
}
