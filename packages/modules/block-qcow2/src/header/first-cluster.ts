import type { BlockNode } from '@tessera/core';
import { MAX_CLUSTER_BITS, MIN_CLUSTER_BITS } from '../limits.ts';
import { HEADER_FIELD } from '../layout.ts';

/** What the usual cluster size (64 KiB) holds: one read opens most images. */
const FIRST_READ = 64 * 1024;

/**
 * The image's first cluster (or the whole file, when shorter): the header and its extensions
 * live there. Read in one piece when the cluster is 64 KiB or less, else in two: the cluster size
 * is only known from the header. Reading a fixed 2 MiB (the largest cluster) cost every open of
 * a 64 KiB-cluster image a 2 MiB read, and a remote image a 2 MiB range request.
 * A cluster size out of range is left for parseHeader to report.
 */
export async function readFirstCluster(file: BlockNode): Promise<Uint8Array> {
  const first = new Uint8Array(Math.min(file.size, FIRST_READ));
  await file.read(0, first);
  if (first.length < HEADER_FIELD.size || file.size <= first.length) return first;
  const clusterBits = new DataView(first.buffer, first.byteOffset, first.byteLength).getUint32(HEADER_FIELD.clusterBits);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS || 2 ** clusterBits <= first.length) return first;
  const head = new Uint8Array(Math.min(file.size, 2 ** clusterBits));
  head.set(first);
  await file.read(first.length, head.subarray(first.length));
  return head;
}
