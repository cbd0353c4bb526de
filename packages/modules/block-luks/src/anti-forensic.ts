// The anti-forensic splitter of LUKS1 (the spec's AFsplit/AFmerge): a key is stored spread over
// `stripes` blocks, each diffused with the header's hash, so wiping any part of it destroys it.
import { createHash, randomBytes } from 'node:crypto';
import { hashSize } from './algorithms.ts';

/** The key hidden in `material` (stripes × key length bytes). */
export function mergeKey(hash: string, material: Uint8Array, keyBytes: number, stripes: number): Uint8Array {
  let mixed: Uint8Array = new Uint8Array(keyBytes);
  for (let i = 0; i < stripes - 1; i++) mixed = diffuse(hash, xor(mixed, material.subarray(i * keyBytes, (i + 1) * keyBytes)));
  return xor(mixed, material.subarray((stripes - 1) * keyBytes, stripes * keyBytes));
}

/** Random stripes whose merge is `key`. */
export function splitKey(hash: string, key: Uint8Array, stripes: number): Uint8Array {
  const keyBytes = key.length;
  const material = new Uint8Array(randomBytes(keyBytes * stripes));
  let mixed: Uint8Array = new Uint8Array(keyBytes);
  for (let i = 0; i < stripes - 1; i++) mixed = diffuse(hash, xor(mixed, material.subarray(i * keyBytes, (i + 1) * keyBytes)));
  material.set(xor(mixed, key), (stripes - 1) * keyBytes);
  return material;
}

/** Each digest-sized piece replaced by the hash of its index (big-endian) and itself, cut to the piece's length. */
function diffuse(hash: string, input: Uint8Array): Uint8Array {
  const size = hashSize(hash);
  const out = new Uint8Array(input.length);
  const index = Buffer.alloc(4);
  for (let i = 0, at = 0; at < input.length; i++, at += size) {
    const piece = input.subarray(at, Math.min(at + size, input.length));
    index.writeUInt32BE(i, 0);
    out.set(createHash(hash).update(index).update(piece).digest().subarray(0, piece.length), at);
  }
  return out;
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}
