// zstd through node:zlib, on the Node versions that have it (22.15+, 24, 26): libzstd in C, on
// the thread pool, nothing bundled.
import type * as Zlib from 'node:zlib';
import type { ZstdEngine } from './engine.ts';

type ZstdZlib = typeof Zlib & {
  zstdCompress(data: Uint8Array, options: object, done: (error: Error | null, out: Buffer) => void): void;
  zstdDecompress(data: Uint8Array, options: object, done: (error: Error | null, out: Buffer) => void): void;
  constants: { ZSTD_c_compressionLevel: number };
};

/** node:zlib when it has zstd, else undefined. */
export function nativeZstd(zlib: typeof Zlib): ZstdEngine | undefined {
  const z = zlib as ZstdZlib;
  if (typeof z.zstdCompress !== 'function' || typeof z.zstdDecompress !== 'function') return undefined;
  const level = z.constants.ZSTD_c_compressionLevel;
  const run = (op: typeof z.zstdCompress, data: Uint8Array, options: object) =>
    new Promise<Uint8Array>((resolve, reject) => op(data, options, (error, out) => (error ? reject(error) : resolve(out))));
  return {
    name: 'node:zlib',
    // Level 3 (zstd's default) is what QEMU writes with.
    compress: (data) => run(z.zstdCompress, data, { params: { [level]: 3 } }),
    decompress: (frame, size) => run(z.zstdDecompress, frame, { maxOutputLength: size }),
  };
}
