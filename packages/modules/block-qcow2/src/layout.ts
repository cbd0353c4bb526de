// Masks and entry codecs of qcow2's tables, in one place (as QEMU keeps them in qcow2.h), so the
// writer, the reader and check decode every entry alike.

/** L1 entry: the L2 table's offset (bits 9–55); bit 63 is QCOW_OFLAG_COPIED. */
export const L1E_OFFSET_MASK = 0x00fffffffffffe00n;
/** Standard L2 entry: the data cluster's offset (bits 9–55). */
export const L2E_OFFSET_MASK = 0x00fffffffffffe00n;
/** Refcount table entry: the refcount block's offset is bits 9–63 (QEMU's REFT_OFFSET_MASK). */
export const REFT_OFFSET_MASK = 0xfffffffffffffe00n;
/** Refcount table entry bits 0–8: reserved, must be zero (QEMU's REFT_RESERVED_MASK). */
export const REFT_RESERVED_MASK = 0x1ffn;
/** QEMU's QCOW_MAX_CLUSTER_OFFSET: no host cluster lies at or beyond 2^56. */
export const MAX_CLUSTER_OFFSET = 2 ** 56 - 1;

/**
 * A refcount table entry's refcount block offset, from its two big-endian 32-bit halves (no BigInt:
 * every open decodes the whole table). Bits 56–63 count, as in QEMU: an entry with them set names
 * an offset no image can have (beyond MAX_CLUSTER_OFFSET), never a smaller one.
 */
export function refcountBlockOffset(high: number, low: number): number {
  return (high >>> 0) * 2 ** 32 + ((low & 0xfffffe00) >>> 0);
}

/** The same from a 64-bit entry. */
export function refcountBlockOffsetOf(entry: bigint): number {
  return Number(entry & REFT_OFFSET_MASK);
}
