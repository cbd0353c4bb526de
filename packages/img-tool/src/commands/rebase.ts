import { SECTOR_SIZE, resolveRelative, type BlockNode, type Host } from '@tessera/core';
import { ToolError, UsageError, errorMessage } from '../cli/errors.ts';
import { checkCacheMode } from '../cli/values.ts';
import { CHUNK_SIZE } from '../image/chunks.ts';
import { openImage } from '../image/open.ts';
import { openWithoutBacking } from '../image/open-without-backing.ts';
import { Progress } from '../image/progress.ts';
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, formatConflict, parseImageCommandOptions } from './common.ts';
import type { Command } from './types.ts';

/**
 * `rebase`: give an image another backing file. Safe mode first copies into the image whatever
 * it took from its old backing chain that the new backing file would show differently; `-u`
 * only rewrites the backing file name and format.
 */
export const rebaseCommand: Command = {
  name: 'rebase',
  movesData: true,
  synopsis: 'rebase [--object objectdef] [--image-opts] [-U] [-q] [-f fmt] [-t cache] [-T src_cache] [-p] [-u] -b backing_file [-F backing_fmt] filename',
  options: { short: ':hf:F:b:upt:T:qU', long: [HELP, OBJECT, IMAGE_OPTS, FORCE_SHARE] },

  async run(context, args) {
    let backingName: string | undefined;
    let backingFormat: string | undefined;
    let unsafe = false;
    let showProgress = false;
    let quiet = false;
    let cache: string | undefined;
    let sourceCache: string | undefined;
    const common = parseImageCommandOptions(args, (option) => {
      switch (option.key) {
        case 'b':
          backingName = option.value;
          break;
        case 'F':
          backingFormat = option.value;
          break;
        case 'u':
          unsafe = true;
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
        case 'T':
          sourceCache = option.value;
          break;
      }
    });
    if (common.help) return context.help();
    if (args.operands.length !== 1) throw new UsageError('Expecting one image file name');
    if (!unsafe && backingName === undefined) throw new UsageError('Must specify backing file (-b) or use unsafe mode (-u)');
    if (common.imageOpts && common.format !== undefined) throw formatConflict();
    if (cache !== undefined) checkCacheMode(cache, false);
    if (sourceCache !== undefined) checkCacheMode(sourceCache, true);
    const filename = args.operands[0]!;
    const name = backingName ?? '';

    // -u does not read the old backing file: it need not be there (the reason to use -u, often).
    const image =
      unsafe && !common.imageOpts
        ? await openWithoutBacking(context.host, filename, common.format)
        : await openImage(context.host, { filename, format: common.format, imageOpts: common.imageOpts }, { readOnly: false });
    try {
      if (backingFormat !== undefined) await checkFormatName(context.host, backingFormat);
      if (!unsafe) {
        const progress = new Progress((text) => context.console.out(text), showProgress && !quiet);
        progress.start();
        const next = name === '' ? undefined : await openNewBacking(context.host, image, name, backingFormat, common.forceShare);
        try {
          await copyDifferences(image, image.backing, next, (done) => progress.set((100 * done) / Math.max(1, image.size)));
        } finally {
          await next?.close();
        }
        progress.set(100);
        progress.end();
      }
      const change = (reason: string) => new ToolError(`Could not change the backing file to '${name}': ${reason}`);
      if (name !== '' && backingFormat === undefined) throw change('backing format must be specified');
      if (!image.setBacking) throw change('Operation not supported');
      try {
        await image.setBacking(name === '' ? undefined : name, name === '' ? undefined : backingFormat);
      } catch (error) {
        throw change(errorMessage(error));
      }
    } finally {
      await image.close();
    }
    return 0;
  },
};

async function checkFormatName(host: Host, format: string): Promise<void> {
  try {
    await host.block.formatDriver(format);
  } catch {
    throw new ToolError(`Invalid format name: '${format}'`);
  }
}

/** The new backing file, named relative to the image as it will be recorded. */
async function openNewBacking(host: Host, image: BlockNode, name: string, format: string | undefined, forceShare: boolean): Promise<BlockNode> {
  try {
    return await openImage(host, { filename: resolveRelative(image.filename, name), format }, { readOnly: true, forceShare });
  } catch (error) {
    const reason = error instanceof ToolError && error.cause !== undefined ? errorMessage(error.cause) : errorMessage(error);
    throw new ToolError(`Could not open new backing file '${name}': ${reason}`, 1, { cause: error });
  }
}

/**
 * Where `image` has nothing allocated and its old backing chain reads differently from the new
 * backing file, write the old content into the image, in runs of differing 512-byte sectors.
 */
async function copyDifferences(
  image: BlockNode,
  old: BlockNode | undefined,
  next: BlockNode | undefined,
  progress: (done: number) => void,
): Promise<void> {
  const oldData = new Uint8Array(CHUNK_SIZE);
  const newData = new Uint8Array(CHUNK_SIZE);
  for (let offset = 0; offset < image.size; ) {
    const limit = Math.min(CHUNK_SIZE, image.size - offset);
    const unallocated = await unallocatedRun(image, offset, limit);
    if (unallocated > 0) {
      const a = oldData.subarray(0, unallocated);
      const b = newData.subarray(0, unallocated);
      await Promise.all([readOrZero(old, offset, a), readOrZero(next, offset, b)]);
      for (const [from, to] of differingRuns(a, b)) await image.write(offset + from, a.subarray(from, to));
      offset += unallocated;
    } else {
      offset += await allocatedRun(image, offset, limit);
    }
    progress(offset);
  }
}

/** Bytes from `offset` (at most `limit`) the image leaves to its backing file. */
async function unallocatedRun(image: BlockNode, offset: number, limit: number): Promise<number> {
  let length = 0;
  while (length < limit) {
    const status = await image.blockStatus?.(offset + length, limit - length);
    if (!status || status.allocated !== false) break;
    length += status.length;
  }
  return length;
}

/** Bytes from `offset` (at most `limit`, at least one status) the image holds itself. */
async function allocatedRun(image: BlockNode, offset: number, limit: number): Promise<number> {
  let length = 0;
  while (length < limit) {
    const status = await image.blockStatus?.(offset + length, limit - length);
    if (status && status.allocated === false) break;
    length += status?.length ?? limit - length;
  }
  return length;
}

/** `node[offset, offset + into.length)`, zeroes past its end or without a node. */
async function readOrZero(node: BlockNode | undefined, offset: number, into: Uint8Array): Promise<void> {
  const available = node ? Math.max(0, Math.min(into.length, node.size - offset)) : 0;
  if (available > 0) await node!.read(offset, into.subarray(0, available));
  into.fill(0, available);
}

/** `[from, to)` runs of whole sectors in which `a` and `b` differ. */
function differingRuns(a: Uint8Array, b: Uint8Array): [number, number][] {
  if (Buffer.compare(a, b) === 0) return [];
  const runs: [number, number][] = [];
  let start = -1;
  for (let at = 0; at < a.length; at += SECTOR_SIZE) {
    const end = Math.min(a.length, at + SECTOR_SIZE);
    const differs = Buffer.compare(a.subarray(at, end), b.subarray(at, end)) !== 0;
    if (differs && start < 0) start = at;
    if (!differs && start >= 0) {
      runs.push([start, at]);
      start = -1;
    }
  }
  if (start >= 0) runs.push([start, a.length]);
  return runs;
}
