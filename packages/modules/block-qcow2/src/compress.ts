import type { InputType, ZlibOptions } from 'node:zlib';

/** node:zlib is loaded on the first compressed cluster, not at startup of every executable. */
async function inflate(data: InputType, options: ZlibOptions): Promise<Buffer> {
  const { inflateRaw } = await import('node:zlib');
  return new Promise((resolve, reject) => inflateRaw(data, options, (error, out) => (error ? reject(error) : resolve(out))));
}

/**
 * Inflate one compressed cluster (raw deflate, no zlib header). On the thread pool, so several can
 * run at once. The output is bounded by the cluster size: a corrupt stream cannot balloon.
 */
export async function decompressCluster(data: Uint8Array, clusterSize: number): Promise<Uint8Array> {
  const out = await inflate(data, { maxOutputLength: clusterSize, finishFlush: 2 /* Z_SYNC_FLUSH: tolerate trailing bytes */ });
  if (out.length !== clusterSize) throw new Error(`compressed cluster inflates to ${out.length} bytes, not ${clusterSize}`);
  return out;
}

async function deflate(data: InputType, options: ZlibOptions): Promise<Buffer> {
  const { deflateRaw } = await import('node:zlib');
  return new Promise((resolve, reject) => deflateRaw(data, options, (error, out) => (error ? reject(error) : resolve(out))));
}

/**
 * Deflate one cluster as QEMU stores it (raw deflate, default level, a 4 KiB window, memLevel 9),
 * on the thread pool. Undefined when it does not come out smaller than the cluster: QEMU stores
 * such a cluster uncompressed.
 */
export async function compressCluster(data: Uint8Array): Promise<Uint8Array | undefined> {
  const out = await deflate(data, { windowBits: 12, memLevel: 9 });
  return out.length < data.length ? out : undefined;
}
