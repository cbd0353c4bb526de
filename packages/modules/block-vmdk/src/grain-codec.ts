/**
 * Compressed grains (streamOptimized): zlib streams (RFC 1950, as VMware and qemu write them),
 * each behind a grain marker {u64 lba; u32 size} and padded to a sector. Deflating runs on
 * libuv's thread pool, so several grains are compressed at once; inflating is fast enough here.
 */
import { deflate } from 'node:zlib';
import type { ReusedZlib } from './reused-zlib.ts';
import { SECTOR } from './sparse-header.ts';
import { corrupt } from './errors.ts';

export const GRAIN_MARKER_BYTES = 12;
/** Metadata marker types (the marker's size field is 0 for them). */
export const MARKER_EOS = 0;
export const MARKER_GT = 1;
export const MARKER_GD = 2;
export const MARKER_FOOTER = 3;

/** Compressed size a grain may claim: deflate never grows data by more than this. */
export function maxCompressedBytes(grainBytes: number): number {
  return grainBytes + (grainBytes >>> 8) + 64;
}

/**
 * Inflate one grain's zlib stream into `into` (exactly the grain's bytes), on this thread with
 * the extent's reused inflate state (see reused-zlib.ts: cheaper than a thread-pool hand-off).
 */
export function inflateGrain(inflater: ReusedZlib, data: Uint8Array, into: Uint8Array, where: string): void {
  const result = inflater.run(data, into);
  if (result !== into.length) {
    throw corrupt(`${where}: a compressed grain does not inflate to ${into.length} bytes${typeof result === 'string' ? ` (${result})` : ''}`);
  }
}

/** Level 6, as qemu's compress(). */
export const DEFLATE_LEVEL = 6;

/** Deflate on the thread pool; one output chunk of at most the grain's compressed bound. */
export function deflateGrain(data: Uint8Array): Promise<Buffer> {
  const options = { level: DEFLATE_LEVEL, chunkSize: maxCompressedBytes(data.length) };
  return new Promise((resolve, reject) => deflate(data, options, (error, result) => (error ? reject(error) : resolve(result))));
}

/**
 * Deflate on this thread with the reused state `deflater` (when the pool is busy enough: this
 * thread then helps rather than waits), straight into the grain's record.
 */
export function deflateGrainRecord(deflater: ReusedZlib, lba: number, data: Uint8Array): Uint8Array {
  const record = new Uint8Array(Math.ceil((GRAIN_MARKER_BYTES + maxCompressedBytes(data.length)) / SECTOR) * SECTOR);
  const size = deflater.run(data, record.subarray(GRAIN_MARKER_BYTES));
  if (typeof size === 'string') throw new Error(`deflate failed: ${size}`);
  writeMarker(record, lba, size);
  return record.subarray(0, Math.ceil((GRAIN_MARKER_BYTES + size) / SECTOR) * SECTOR);
}

function writeMarker(record: Uint8Array, lba: number, size: number): void {
  const view = new DataView(record.buffer, record.byteOffset, GRAIN_MARKER_BYTES);
  view.setBigUint64(0, BigInt(lba), true);
  view.setUint32(8, size, true);
}

/** The padded bytes of one grain record: marker then compressed data. */
export function grainRecord(lba: number, compressed: Uint8Array): Uint8Array {
  const total = Math.ceil((GRAIN_MARKER_BYTES + compressed.length) / SECTOR) * SECTOR;
  const record = new Uint8Array(total);
  writeMarker(record, lba, compressed.length);
  record.set(compressed, GRAIN_MARKER_BYTES);
  return record;
}

/** A metadata marker sector: {u64 numSectors; u32 size = 0; u32 type; padding}. */
export function metadataMarker(type: number, sectorsFollowing: number): Uint8Array {
  const marker = new Uint8Array(SECTOR);
  const view = new DataView(marker.buffer);
  view.setBigUint64(0, BigInt(sectorsFollowing), true);
  view.setUint32(12, type, true);
  return marker;
}
