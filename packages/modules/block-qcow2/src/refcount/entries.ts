// Refcount block entries of any width (refcount_order 0–6): widths below a byte are packed from
// the least significant bit of each byte up; 8 bits and more are big-endian integers.

/** Widths up to 32 bits (refcount_order 0–5) are exact in a double: no BigInt on the hot paths. */
export const NARROWEST_WIDE_ORDER = 6;

/** The refcount at `index` of a refcount block whose order is below 6, as a number. */
export function refcountAt(block: Uint8Array, index: number, order: number): number {
  const bits = 1 << order;
  if (bits < 8) {
    const perByte = 8 / bits;
    const shift = (index % perByte) * bits;
    return (block[Math.floor(index / perByte)]! >> shift) & ((1 << bits) - 1);
  }
  const bytes = bits / 8;
  let value = 0;
  for (let i = 0; i < bytes; i++) value = value * 256 + block[index * bytes + i]!;
  return value;
}

/** Store `value` at `index` of a block whose order is below 6; returns the byte range that changed. */
export function storeRefcount(block: Uint8Array, index: number, order: number, value: number): [number, number] {
  const at = writeRefcount(block, index, order, value);
  return [at, at + refcountBytes(order)];
}

/** storeRefcount without the range: returns the first byte that changed (refcountBytes(order) of them). */
export function writeRefcount(block: Uint8Array, index: number, order: number, value: number): number {
  const bits = 1 << order;
  if (bits < 8) {
    const perByte = 8 / bits;
    const at = Math.floor(index / perByte);
    const shift = (index % perByte) * bits;
    const mask = ((1 << bits) - 1) << shift;
    block[at] = (block[at]! & ~mask) | ((value << shift) & mask);
    return at;
  }
  const bytes = bits / 8;
  let v = value;
  for (let i = bytes - 1; i >= 0; i--) {
    block[index * bytes + i] = v % 256;
    v = Math.floor(v / 256);
  }
  return index * bytes;
}

/** The bytes one refcount change touches: its byte, for widths below 8 bits. */
export function refcountBytes(order: number): number {
  return Math.max(1, (1 << order) / 8);
}

/** The refcount at `index` of a refcount block. */
export function getRefcount(block: Uint8Array, index: number, order: number): bigint {
  if (order < NARROWEST_WIDE_ORDER) return BigInt(refcountAt(block, index, order));
  const bytes = (1 << order) / 8;
  let value = 0n;
  for (let i = 0; i < bytes; i++) value = (value << 8n) | BigInt(block[index * bytes + i]!);
  return value;
}

/** Store `value` (which must fit the width) at `index`; returns the byte range that changed. */
export function setRefcount(block: Uint8Array, index: number, order: number, value: bigint): [number, number] {
  if (order < NARROWEST_WIDE_ORDER) return storeRefcount(block, index, order, Number(value));
  const bytes = (1 << order) / 8;
  let v = value;
  for (let i = bytes - 1; i >= 0; i--) {
    block[index * bytes + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return [index * bytes, (index + 1) * bytes];
}

/** The largest refcount an entry of this order holds. */
export function maxRefcount(order: number): bigint {
  return (1n << (1n << BigInt(order))) - 1n;
}

/** Refcount entries in one refcount block. */
export function entriesPerBlock(clusterSize: number, order: number): number {
  return (clusterSize * 8) >> order;
}
