// Comparing the counted references with the stored refcounts, cluster by cluster, as qemu-img
// reports the differences: "Leaked cluster" (more counted than referenced), "ERROR cluster"
// (fewer), "Repairing cluster" where the repair mode allows fixing it.
import type { CheckRepair } from '@tessera/core';
import { getRefcount } from '../refcount/entries.ts';
import type { ReferenceCounts } from './reference-counts.ts';
import type { CheckTally } from './result.ts';
import { UnreadableRefcount, type StoredRefcounts } from './stored-refcounts.ts';

export interface Comparison {
  /** The last cluster that is counted or referenced; 0 when none could be read (as qemu-img reports it). */
  readonly highestCluster: number;
  /** A referenced cluster has refcount 0: QEMU rebuilds the refcount structure for that. */
  readonly needsRebuild: boolean;
  /** Refcounts to set, when repairing. */
  readonly raise: Map<number, bigint>;
  readonly lower: Map<number, bigint>;
}

/**
 * `repair` says what may be fixed: `leaks` lowers refcounts above the references, `all` also
 * raises those below (a refcount of 0 below its references is left to a rebuild).
 */
export async function compareRefcounts(
  references: ReferenceCounts,
  stored: StoredRefcounts,
  order: number,
  tally: CheckTally,
  repair: CheckRepair,
): Promise<Comparison> {
  let highestCluster = 0;
  let needsRebuild = false;
  const raise = new Map<number, bigint>();
  const lower = new Map<number, bigint>();
  const perBlock = stored.clustersPerBlock;
  let block: Uint8Array | undefined;
  let unreadable: UnreadableRefcount | undefined;
  for (let cluster = 0; cluster < references.clusters; cluster++) {
    if (cluster % perBlock === 0) {
      // A block at a time (the clusters in order).
      try {
        block = await stored.block(cluster / perBlock);
        unreadable = undefined;
      } catch (error) {
        if (!(error instanceof UnreadableRefcount)) throw error;
        unreadable = error;
      }
      // No block and nothing counted from here on in its range: nothing to compare (a sparse
      // file's clusters, which the metadata never reaches, are skipped a range at a time).
      if (!block && !unreadable && !references.anyIn(cluster, cluster + perBlock)) {
        cluster += perBlock - 1;
        continue;
      }
    }
    if (unreadable) {
      tally.messages.push(`Can't get refcount for cluster ${cluster}: ${unreadable.message}`);
      tally.checkErrors++;
      continue;
    }
    const refcount = block ? getRefcount(block, cluster % perBlock, order) : 0n;
    const counted = BigInt(references.get(cluster));
    if (refcount > 0n || counted > 0n) highestCluster = cluster;
    if (refcount === counted) continue;
    if (refcount === 0n) needsRebuild = true;
    const leak = refcount > counted;
    const fix = refcount !== 0n && (leak ? repair !== 'none' : repair === 'all');
    tally.messages.push(`${fix ? 'Repairing' : leak ? 'Leaked' : 'ERROR'} cluster ${cluster} refcount=${refcount} reference=${counted}`);
    if (fix) {
      (leak ? lower : raise).set(cluster, counted);
      if (leak) tally.leaksFixed++;
      else tally.corruptionsFixed++;
    } else if (leak) tally.leaks++;
    else tally.corruptions++;
  }
  return { highestCluster, needsRebuild, raise, lower };
}
