import { isAbsolute, resolve } from 'node:path';
import { protocolOf, resolveRelative, writeZeroes, type BlockNode } from '@tessera/core';
import { ToolError, UsageError, errorMessage } from '../cli/errors.ts';
import { throwIfStopped, type StopRequest } from '../cli/stop-signals.ts';
import { checkCacheMode, parseSizeArgument } from '../cli/values.ts';
import { CHUNK_SIZE } from '../image/chunks.ts';
import { errnoCode } from '../image/errno.ts';
import { openImage } from '../image/open.ts';
import { Progress } from '../image/progress.ts';
import { throttle } from '../image/throttle.ts';
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, formatConflict, parseImageCommandOptions } from './common.ts';
import type { Command } from './types.ts';

/**
 * `commit`: copy what the image (and the images between it and the base) holds into the base
 * image of its backing chain, then empty the image unless `-d` (or `-b`, which implies it: the
 * images above the base no longer fit it).
 */
export const commitCommand: Command = {
  name: 'commit',
  movesData: true,
  synopsis: 'commit [--object objectdef] [--image-opts] [-q] [-f fmt] [-t cache] [-b base] [-r rate_limit] [-d] [-p] filename',
  options: { short: ':f:ht:b:dpqr:', long: [HELP, OBJECT, IMAGE_OPTS] },

  async run(context, args) {
    let baseName: string | undefined;
    let keep = false;
    let showProgress = false;
    let quiet = false;
    let cache: string | undefined;
    let rateLimit: number | undefined;
    const common = parseImageCommandOptions(args, (option) => {
      switch (option.key) {
        case 'b':
          baseName = option.value;
          break;
        case 'd':
          keep = true;
          break;
        case 'p':
          showProgress = true;
          break;
        case 'q':
          quiet = true;
          break;
        case 't':
          cache = option.value;
          break;
        case 'r':
          rateLimit = Number(parseSizeArgument('rate limit', option.value!, context.console));
          break;
      }
    });
    if (common.help) return context.help();
    if (args.operands.length !== 1) throw new UsageError('Expecting one image file name');
    if (common.imageOpts && common.format !== undefined) throw formatConflict();
    if (cache !== undefined) checkCacheMode(cache, false);
    const filename = args.operands[0]!;
    const say = (text: string) => {
      if (!quiet) context.console.out(text);
    };

    const top = await openImage(context.host, { filename, format: common.format, imageOpts: common.imageOpts }, { readOnly: false });
    try {
      if (!top.backing) throw new ToolError('Image does not have a backing file');
      const chainBase = baseName === undefined ? top.backing : findInChain(top, baseName);
      if (!chainBase) throw new ToolError(`Did not find '${baseName}' in the backing chain of '${filename}'`);
      const above: BlockNode[] = [];
      for (let node: BlockNode | undefined = top; node && node !== chainBase; node = node.backing) above.push(node);

      // The chain opened the base read-only; it is opened again, for writing, by its resolved name.
      // Its read-only open first stops forbidding writes (as QEMU's reopen of the base for writing).
      await chainBase.child?.setPermissions?.({ use: ['consistent read'], unshare: [] });
      // A base whose format was probed is probed again, so that a raw one stays guarded (as qemu's).
      const base = await openImage(context.host, { filename: chainBase.filename, format: chainBase.probed ? undefined : chainBase.driver }, { readOnly: false }).catch((error: unknown) => {
        // qemu-img reopens the base for writing and reports a lock conflict bare, not as an open failure.
        const cause = (error as { cause?: { code?: unknown } }).cause;
        throw cause?.code === 'image-locked' ? new ToolError(errorMessage(cause)) : error;
      });
      try {
        const progress = new Progress(say, showProgress && !quiet);
        progress.start();
        if (base.size < top.size) {
          if (!base.resize) throw new ToolError(`Could not resize '${base.filename}': Operation not supported`);
          await base.resize(top.size, { shrink: false });
        }
        await copyAllocated(above, base, (done) => progress.set((100 * done) / Math.max(1, top.size)), context.stop, rateLimit).catch((error: unknown) => {
          // An I/O error (a driver's, with an errno code) ends qemu-img's commit job with this line.
          if (errnoCode(error)) throw new ToolError(`Block job failed: ${errorMessage(error)}`, 1, { cause: error });
          throw error;
        });
        await base.flush();
        progress.set(100);
        progress.end();
      } finally {
        await base.close();
      }
      if (!keep && baseName === undefined) {
        if (!top.makeEmpty) throw new ToolError(`Image committed, but could not empty '${filename}': Operation not supported`);
        await top.makeEmpty();
      }
    } finally {
      await top.close();
    }
    say('Image committed.\n');
    return 0;
  },
};

/** The image below `top` that `name` designates: as recorded by the image above it, or the same file. */
function findInChain(top: BlockNode, name: string): BlockNode | undefined {
  const same = (a: string, b: string) => (protocolOf(a) === 'file' && protocolOf(b) === 'file' ? resolve(a) === resolve(b) : a === b);
  for (let above = top, node = top.backing; node; above = node, node = node.backing) {
    const recorded = above.describe?.().backingFile;
    if (recorded === name) return node;
    if (same(name, node.filename)) return node;
    if (!isAbsolute(name) && same(resolveRelative(above.filename, name), node.filename)) return node;
  }
  return undefined;
}

/** Every range some image in `above` allocates, read through the top image, written into `base` (in runs of up to a chunk). */
async function copyAllocated(
  above: readonly BlockNode[],
  base: BlockNode,
  progress: (done: number) => void,
  stop: StopRequest | undefined,
  rateLimit: number | undefined,
): Promise<void> {
  const top = above[0]!;
  const buffer = new Uint8Array(CHUNK_SIZE);
  const started = Date.now();
  let copied = 0;
  for (let offset = 0; offset < top.size; ) {
    throwIfStopped(stop); // nothing is emptied then: the overlay still holds everything
    const limit = Math.min(CHUNK_SIZE, top.size - offset);
    const first = await allocatedAbove(above, offset, limit);
    let length = first.length;
    // Neighbours alike join the run: one write allocates many clusters at once.
    while (length < limit) {
      const next = await allocatedAbove(above, offset + length, limit - length);
      if (next.allocated !== first.allocated || next.zero !== first.zero) break;
      length += next.length;
    }
    if (first.allocated && first.zero) {
      // Zeroes an image records as such stay zeroes (zero clusters), as qemu-img's commit job writes them.
      await writeZeroes(base, offset, length, { mayUnmap: true });
      copied += length;
    } else if (first.allocated) {
      const data = buffer.subarray(0, length);
      await top.read(offset, data);
      await base.write(offset, data);
      copied += length;
      if (rateLimit) await throttle(started, copied, rateLimit); // -r: bytes copied per second, as qemu's block job counts them
    }
    offset += length;
    progress(offset);
  }
}

/** Whether some image in `above` allocates the bytes from `offset`, and for how many (at most `length`). */
async function allocatedAbove(above: readonly BlockNode[], offset: number, length: number): Promise<{ allocated: boolean; zero: boolean; length: number }> {
  for (const node of above) {
    if (offset >= node.size) continue;
    const status = await node.blockStatus?.(offset, Math.min(length, node.size - offset));
    if (!status) return { allocated: true, zero: false, length };
    length = Math.min(length, status.length);
    if (status.allocated !== false) return { allocated: true, zero: status.zero && !status.data, length };
  }
  return { allocated: false, zero: false, length };
}
