import { inflateRaw } from 'node:zlib';
import { promisify } from 'node:util';

const inflate = promisify(inflateRaw);

/**
 * Inflate one compressed cluster (raw deflate, no zlib header). On the thread pool, so several can
 * run at once. The output is bounded by the cluster size: a corrupt stream cannot balloon.
 */
export async function decompressCluster(data: Uint8Array, clusterSize: number): Promise<Uint8Array> {
  const out = await inflate(data, { maxOutputLength: clusterSize, finishFlush: 2 /* Z_SYNC_FLUSH: tolerate trailing bytes */ });
  if (out.length !== clusterSize) throw new Error(`compressed cluster inflates to ${out.length} bytes, not ${clusterSize}`);
  return out;
}
