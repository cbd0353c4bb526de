/**
 * Compressed grains (streamOptimized): zlib streams (RFC 1950, as VMware and qemu write them),
 * each behind a grain marker {u64 lba; u32 size} and padded to a sector. Inflating and deflating
 * run on libuv's thread pool, so several grains are (de)compressed at once.
 */
import { deflate, deflateSync, inflate, inflateSync, type ZlibOptions } from 'node:zlib';
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

/** Grains inflated on the thread pool at once; beyond that the calling thread inflates (it would only wait). */
const POOL_INFLATES = 2;
let inPool = 0;

export function inflateGrain(data: Uint8Array, grainBytes: number, where: string): Promise<Uint8Array> {
  // One output chunk of a whole grain: no piecing together of 16 KiB chunks (allocations, a copy);
  // the output limit keeps a hostile stream from inflating beyond one grain.
  const options = { maxOutputLength: grainBytes, chunkSize: grainBytes + 64 } as ZlibOptions;
  const failed = (error: Error | null) => corrupt(`${where}: a compressed grain does not inflate to ${grainBytes} bytes${error ? ` (${error.message})` : ''}`);
  if (inPool >= POOL_INFLATES) {
    try {
      const result = inflateSync(data, options);
      return result.length === grainBytes ? Promise.resolve(result) : Promise.reject(failed(null));
    } catch (error) {
      return Promise.reject(failed(error as Error));
    }
  }
  inPool++;
  return new Promise((resolve, reject) => {
    inflate(data, options, (error, result) => {
      inPool--;
      if (error || result.length !== grainBytes) reject(failed(error));
      else resolve(result);
    });
  });
}

/** Level 6, as qemu's compress(); one output chunk of at most the grain's compressed bound. */
const deflateOptions = (data: Uint8Array) => ({ level: 6, chunkSize: maxCompressedBytes(data.length) });

/** Deflate on the thread pool. */
export function deflateGrain(data: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => deflate(data, deflateOptions(data), (error, result) => (error ? reject(error) : resolve(result))));
}

/** Deflate on this thread (when the pool is busy enough: this thread then helps rather than waits). */
export function deflateGrainNow(data: Uint8Array): Buffer {
  return deflateSync(data, deflateOptions(data));
}

/** The padded bytes of one grain record: marker then compressed data. */
export function grainRecord(lba: number, compressed: Uint8Array): Uint8Array {
  const total = Math.ceil((GRAIN_MARKER_BYTES + compressed.length) / SECTOR) * SECTOR;
  const record = new Uint8Array(total);
  const view = new DataView(record.buffer);
  view.setBigUint64(0, BigInt(lba), true);
  view.setUint32(8, compressed.length, true);
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
