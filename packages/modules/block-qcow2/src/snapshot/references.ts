// What an L1 table (the active one or a snapshot's) holds references to. Refcounts count one
// reference per path from an L1 table: an L2 table shared by two L1 tables counts twice, and so
// does every cluster it references (as qemu-img check counts them).
import { forEachL2Table } from '../cluster/tables.ts';
import { corrupt } from '../errors.ts';
import { compressedClusters, decodeL2Entry, l2EntrySize, l2HostOffset } from '../layout.ts';
import { maxRefcount } from '../refcount/entries.ts';
import type { Qcow2State } from '../state.ts';

export interface L1References {
  /** Cluster indexes of the L2 tables. */
  readonly l2Tables: number[];
  /** Cluster indexes of data clusters and of every cluster compressed data touches, once per reference. */
  readonly data: number[];
}

export async function l1References(image: Qcow2State, l1: BigUint64Array): Promise<L1References> {
  const { clusterSize: cs, clusterBits, extendedL2 } = image.header;
  const entrySize = l2EntrySize(extendedL2);
  const fileEnd = image.child.size;
  const l2Tables: number[] = [];
  const data: number[] = [];
  // (The map checks each table's alignment and that it lies inside the file.)
  await forEachL2Table(l1, (l2) => image.map.l2Table(l2), (_table, view, l2) => {
    l2Tables.push(l2 / cs);
    for (let at = 0; at < cs; at += entrySize) {
      const entry = view.getBigUint64(at);
      const mapping = decodeL2Entry(entry, clusterBits, false);
      if (mapping.kind === 'compressed') {
        const end = mapping.hostOffset + mapping.compressedLength;
        if (end > fileEnd + 2 * cs) throw corrupt(image.filename, `compressed cluster at ${mapping.hostOffset} lies beyond the end of the file`);
        const [first, count] = compressedClusters(mapping.hostOffset, mapping.compressedLength, cs);
        for (let c = first; c < first + count; c++) data.push(c);
        continue;
      }
      const offset = l2HostOffset(entry);
      if (offset === 0) continue;
      if (offset % cs !== 0) throw corrupt(image.filename, `data cluster offset ${offset} is not cluster aligned`);
      data.push(offset / cs);
    }
  });
  return { l2Tables, data };
}

/** Both lists in one, for a refcount change. */
export function allClusters(references: L1References): number[] {
  return [...references.l2Tables, ...references.data];
}

/**
 * Refuse, before anything is written, a refcount change that cannot be right: a referenced
 * cluster must be counted (at least as often as the references dropped), and a raised refcount
 * must fit the refcount width (QEMU then fails with EINVAL).
 */
export async function checkRefcountChange(image: Qcow2State, clusters: readonly number[], delta: 1n | -1n): Promise<void> {
  const refcounts = image.refcounts!;
  const max = maxRefcount(image.header.refcountOrder);
  const times = new Map<number, bigint>();
  for (const cluster of clusters) times.set(cluster, (times.get(cluster) ?? 0n) + 1n);
  for (const [cluster, n] of times) {
    const refcount = await refcounts.get(cluster);
    if (refcount === 0n || (delta < 0n && refcount < n)) {
      throw corrupt(image.filename, `cluster ${cluster} is referenced ${n} times more but its refcount is ${refcount}`);
    }
    if (delta > 0n && refcount + n > max) throw new Error('-22 (Invalid argument)');
  }
}
