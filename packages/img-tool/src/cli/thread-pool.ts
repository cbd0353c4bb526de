/**
 * Size libuv's thread pool to the CPUs this process may use, unless UV_THREADPOOL_SIZE is set.
 *
 * The pool's threads do the file reads and writes, that is the kernel's page-cache copies, and
 * deflate for `-c`. libuv's default is four threads whatever the machine: on two CPUs, four
 * copying threads starve the main thread that hands them their next chunk. With as many threads
 * as CPUs, a 1 GiB convert took about 8% less time on a 2-CPU machine (medians of 15, raw to
 * qcow2 and back). Never fewer than two, so a read can proceed beside a write.
 *
 * A command that only reads an image's metadata (info, map, measure) keeps few requests under
 * way: it gets two threads without asking how many CPUs there are (loading node:os for that
 * costs every start about 0.3 ms).
 *
 * libuv reads the variable once, when the pool starts at the first asynchronous file operation:
 * this must run before the command's first file operation.
 */
export function sizeThreadPool(metadataOnly = false): void {
  if (process.env.UV_THREADPOOL_SIZE !== undefined) return;
  const cpus = metadataOnly ? 2 : process.getBuiltinModule('node:os').availableParallelism();
  process.env.UV_THREADPOOL_SIZE = String(Math.min(MAX_THREADS, Math.max(2, cpus)));
}

/** An upper bound: convert keeps at most 16 requests under way (`-m` 16, as in qemu-img). */
const MAX_THREADS = 16;
