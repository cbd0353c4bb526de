// Decoding of L1 and L2 table entries (standard and extended L2).
import { L2E_OFFSET_MASK as OFFSET_MASK } from '../layout.ts';

const COMPRESSED = 1n << 62n;
const ZERO = 1n;
const COPIED = 1n << 63n;

export type ClusterMapping =
  /** Not allocated here; with extended L2 the cluster itself may be (`hostOffset`). */
  | { readonly kind: 'unallocated'; readonly hostOffset?: number }
  /** Reads as zeroes; `hostOffset` is kept when the cluster stays allocated (QEMU's "zero, allocated"). */
  | { readonly kind: 'zero'; readonly hostOffset?: number }
  | { readonly kind: 'data'; readonly hostOffset: number }
  | { readonly kind: 'compressed'; readonly hostOffset: number; readonly compressedLength: number };

/** An L1 entry's L2 table offset, or 0 when the L2 table is not allocated. */
export function l2TableOffset(l1Entry: bigint): number {
  return Number(l1Entry & OFFSET_MASK);
}

/**
 * The mapping of one cluster (standard L2) or one subcluster (extended L2, where `bitmap` holds the
 * allocation bits 0–31 and zero bits 32–63 and `subcluster` selects one).
 */
export function decodeL2Entry(
  entry: bigint,
  clusterBits: number,
  hasDataFile: boolean,
  extended?: { bitmap: bigint; subcluster: number },
): ClusterMapping {
  if (entry & COMPRESSED) {
    const offsetBits = BigInt(62 - (clusterBits - 8));
    const hostOffset = Number(entry & ((1n << offsetBits) - 1n));
    const sectors = Number((entry >> offsetBits) & ((1n << (62n - offsetBits)) - 1n)) + 1;
    return { kind: 'compressed', hostOffset, compressedLength: sectors * 512 - (hostOffset % 512) };
  }
  const hostOffset = Number(entry & OFFSET_MASK);
  if (extended) {
    const bit = BigInt(extended.subcluster);
    if ((extended.bitmap >> (32n + bit)) & 1n) return hostOffset ? { kind: 'zero', hostOffset } : { kind: 'zero' };
    if ((extended.bitmap >> bit) & 1n) return { kind: 'data', hostOffset };
    return hostOffset ? { kind: 'unallocated', hostOffset } : { kind: 'unallocated' };
  }
  if (entry & ZERO) return hostOffset ? { kind: 'zero', hostOffset } : { kind: 'zero' };
  // Offset 0 means unallocated, except in an external data file, where 0 is a real offset: there
  // every data cluster has refcount 1, so the COPIED flag tells the two apart.
  const allocated = hostOffset !== 0 || (hasDataFile && (entry & COPIED) !== 0n);
  return allocated ? { kind: 'data', hostOffset } : { kind: 'unallocated' };
}
