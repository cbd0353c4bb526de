import type { Refcounts } from '../refcount/refcounts.ts';

/**
 * `count` adjacent free clusters (tables must be contiguous), refcounts 1 and synced; returns the
 * first one's host offset. Refcounts.allocate may interleave a new refcount block: then the
 * clusters go back (free again, not leaked) and the next try starts past the new block.
 */
export async function allocateContiguous(refcounts: Refcounts, count: number, clusterSize: number): Promise<number> {
  for (;;) {
    const offsets = await refcounts.allocate(count);
    if (offsets.every((offset, i) => offset === offsets[0]! + i * clusterSize)) return offsets[0]!;
    for (const offset of offsets) await refcounts.release(offset / clusterSize, 1);
  }
}
