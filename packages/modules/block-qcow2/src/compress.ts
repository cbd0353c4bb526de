import type { InputType, ZlibOptions } from 'node:zlib';
import { COMPRESSION_ZLIB, codecOf } from './codecs.ts';

/**
 * node:zlib, loaded on the first compressed cluster, not at startup of every executable (and
 * once: an import per cluster cost some 14 µs each).
 */
let zlib: Promise<typeof import('node:zlib')> | undefined;
const loadZlib = () => (zlib ??= import('node:zlib'));

async function inflate(data: InputType, options: ZlibOptions): Promise<Buffer> {
  const { inflateRaw } = await loadZlib();
  return new Promise((resolve, reject) => inflateRaw(data, options, (error, out) => (error ? reject(error) : resolve(out))));
}

/**
 * Up to this cluster size (de)compression runs at once on the main thread: for a small cluster the
 * thread pool's round trip costs more than the work (qemu-img's 512-byte clusters took three to
 * ten times as long through it).
 */
const IN_PLACE_BYTES = 4096;

/**
 * Inflate one compressed cluster (raw deflate, no zlib header). On the thread pool unless small,
 * so several can run at once. The output is bounded by the cluster size: a corrupt stream cannot balloon.
 */
export async function decompressCluster(data: Uint8Array, clusterSize: number, type = COMPRESSION_ZLIB): Promise<Uint8Array> {
  if (type !== COMPRESSION_ZLIB) return (await codecOf(type)).decompress(data, clusterSize);
  const options: ZlibOptions = { maxOutputLength: clusterSize, finishFlush: 2 /* Z_SYNC_FLUSH: tolerate trailing bytes */ };
  const out = clusterSize <= IN_PLACE_BYTES ? (await loadZlib()).inflateRawSync(data, options) : await inflate(data, options);
  if (out.length !== clusterSize) throw new Error(`compressed cluster inflates to ${out.length} bytes, not ${clusterSize}`);
  return out;
}

async function deflate(data: InputType, options: ZlibOptions): Promise<Buffer> {
  const { deflateRaw } = await loadZlib();
  return new Promise((resolve, reject) => deflateRaw(data, options, (error, out) => (error ? reject(error) : resolve(out))));
}

/**
 * Deflates on the thread pool under way at once, at most. Each holds zlib's state (some 300 KiB)
 * from its start, and a convert hands over thousands of clusters at once (4096 in a 2 MiB chunk
 * of 512-byte clusters): unbounded, they thrashed memory and the collector.
 */
const MAX_DEFLATES = 16;
let deflating = 0;
const waiting: (() => void)[] = [];

async function withDeflateSlot<T>(body: () => Promise<T>): Promise<T> {
  if (deflating < MAX_DEFLATES) deflating++;
  else await new Promise<void>((resolve) => waiting.push(resolve)); // handed its slot by one that ends
  try {
    return await body();
  } finally {
    // First come, first served: clusters are stored in the order they came.
    const next = waiting.shift();
    if (next) next();
    else deflating--;
  }
}

/**
 * Deflate one cluster as QEMU stores it (raw deflate, default level, a 4 KiB window, memLevel 9),
 * on the thread pool unless it is small. Undefined when it does not come out smaller than the
 * cluster: QEMU stores such a cluster uncompressed. Other compression types (zstd) go to their
 * codec module, at most MAX_DEFLATES at once as well.
 */
export async function compressCluster(data: Uint8Array, type = COMPRESSION_ZLIB): Promise<Uint8Array | undefined> {
  if (type !== COMPRESSION_ZLIB) {
    const codec = await codecOf(type);
    const out = await withDeflateSlot(() => codec.compress(data));
    return out.length < data.length ? out : undefined;
  }
  const options: ZlibOptions = { windowBits: 12, memLevel: 9 };
  const out = data.length <= IN_PLACE_BYTES ? (await loadZlib()).deflateRawSync(data, options) : await withDeflateSlot(() => deflate(data, options));
  // Copied out: zlib's result is a view of its 16 KiB output buffer, which thousands of clusters
  // waiting for their turn to be stored would each keep.
  return out.length < data.length ? new Uint8Array(out) : undefined;
}
