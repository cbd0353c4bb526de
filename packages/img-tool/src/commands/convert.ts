import type { BlockNode, CacheMode, Host } from '@tessera/core';
import { ToolError, errorMessage } from '../cli/errors.ts';
import { checkCacheMode } from '../cli/values.ts';
import { ReadError } from '../image/chunks.ts';
import { WriteError, copyImages } from '../image/copy.ts';
import { showsBlockDevice } from '../image/block-device.ts';
import { allocationUnit } from '../image/coalesce.ts';
import { CreationUnsupportedError, createImage } from '../image/create.ts';
import { createOptionsHelp, parseCreateOptions } from '../image/create-options.ts';
import { formatTraits, type FormatTraits } from '../image/formats.ts';
import { asksForHelp, parseKeyValueList } from '../image/key-value.ts';
import { STABLE_SOURCE, openImage } from '../image/open.ts';
import { Progress } from '../image/progress.ts';
import { loadSnapshot } from '../image/snapshot-source.ts';
import { HELP, IMAGE_OPTS, OBJECT } from './common.ts';
import { checkCombinations, parseSettings, type ConvertSettings } from './convert-settings.ts';
import type { Command, CommandContext } from './types.ts';
import { checkBitmapSources, copyBitmaps } from './convert-bitmaps.ts';

/** `convert`: copy one or more images (concatenated) into a new image, leaving zero blocks unwritten. */
export const convertCommand: Command = {
  name: 'convert',
  movesData: true,
  synopsis:
    'convert [--image-opts] [--target-image-opts] [--target-is-zero] [-U] [-C] [-p] [-q] [-n] [-f fmt] ' +
    '[-t cache] [-T src_cache] [-O output_fmt] [-o options] [-S sparse_size] [-r rate_limit] ' +
    '[-m num_coroutines] [-W] [--salvage] filename [filename2 [...]] output_filename',
  options: {
    short: ':hf:O:B:CcF:o:l:S:pt:T:qnm:WUr:',
    long: [
      HELP,
      OBJECT,
      IMAGE_OPTS,
      { name: 'target-image-opts', hasArg: false },
      { name: 'salvage', hasArg: false },
      { name: 'target-is-zero', hasArg: false },
      { name: 'bitmaps', hasArg: false },
      { name: 'skip-broken-bitmaps', hasArg: false },
    ],
  },

  async run(context, args) {
    const settings = parseSettings(context, args.options);
    if (settings === 'help') return context.help();
    checkCombinations(settings);
    const operands = args.operands;
    if (operands.length < 2) throw new ToolError('Must specify image file name');
    const inputs = operands.slice(0, -1);
    const output = operands.at(-1)!;
    const entries = parseKeyValueList(settings.optionLists.join(','));
    if (asksForHelp(entries)) {
      context.console.out(await createOptionsHelp(context.host, await formatTraits(context.host, settings.outputFormat), output));
      return 0;
    }
    if (settings.cache !== undefined) checkCacheMode(settings.cache, false);
    if (settings.sourceCache !== undefined) checkCacheMode(settings.sourceCache, true);

    if (settings.snapshot && inputs.length > 1) throw new ToolError('No support for concatenating multiple snapshot');
    const opened: BlockNode[] = [];
    const sources: BlockNode[] = [];
    try {
      for (const filename of inputs) {
        const source = await openImage(
          context.host,
          { filename, format: settings.sourceFormat, imageOpts: settings.imageOpts },
          { readOnly: true, permissions: STABLE_SOURCE, forceShare: settings.forceShare ?? false },
        );
        opened.push(source);
        sources.push(settings.snapshot ? await loadSnapshot(source, settings.snapshot) : source);
      }
      if (settings.bitmaps) checkBitmapSources(sources, settings.skipBrokenBitmaps);
      const traits = await formatTraits(context.host, settings.outputFormat);
      checkOutputFormat(settings, traits);
      const totalSize = sources.reduce((sum, source) => sum + source.size, 0);
      const target = await prepareTarget(context.host, settings, traits, entries, output, totalSize);
      try {
        await copy(context, settings, sources, target, totalSize, hasBacking(settings, entries), createsSparse(settings, entries), traits.capabilities.createdNotZero ?? false);
        if (settings.bitmaps) await copyBitmaps(sources[0]!, target, traits.name, context.console);
      } finally {
        await target.close();
      }
      return 0;
    } finally {
      await Promise.all(opened.map((source) => source.close()));
    }
  },
};

/** What the output format cannot do (raw: compression, backing files, snapshots, bitmaps). */
function checkOutputFormat(settings: ConvertSettings, traits: FormatTraits): void {
  if (settings.compress && !traits.capabilities.compression) throw new ToolError('Compression not supported for this file format');
  if (settings.backingFile !== undefined && !traits.capabilities.backingFile) {
    throw new ToolError(`Backing file not supported for file format '${traits.name}'`);
  }
  if (settings.backingFormat !== undefined && !traits.capabilities.backingFile) {
    throw new ToolError(`Backing file format not supported for file format '${traits.name}'`);
  }
  if (settings.bitmaps && !traits.capabilities.bitmaps) throw new ToolError(`Format driver '${traits.name}' does not support bitmaps`);
  if (settings.backingFile !== undefined && settings.backingFormat === undefined && !settings.skipCreate) {
    throw new ToolError('Use of backing file requires explicit backing format');
  }
}

/** The output has a backing file (-B, or backing_file in -o): then only the sources' own allocations are copied. */
function hasBacking(settings: ConvertSettings, entries: ReturnType<typeof parseKeyValueList>): boolean {
  return settings.backingFile !== undefined || entries.some((entry) => entry.key === 'backing_file');
}

/**
 * The output is created here without preallocation: none of its clusters are allocated before the
 * copy (so joined writes, coalesce.ts, allocate nothing more, not even in the file).
 */
function createsSparse(settings: ConvertSettings, entries: ReturnType<typeof parseKeyValueList>): boolean {
  const preallocation = entries.findLast((entry) => entry.key === 'preallocation')?.value;
  return !settings.skipCreate && (preallocation === undefined || preallocation === 'off');
}

/** Create the output (unless -n) and open it for writing. */
async function prepareTarget(
  host: Host,
  settings: ConvertSettings,
  traits: FormatTraits,
  entries: ReturnType<typeof parseKeyValueList>,
  output: string,
  totalSize: number,
): Promise<BlockNode> {
  let openOptions: Record<string, string> = {};
  if (!settings.skipCreate) {
    // `-o size=` is accepted and ignored: the output is as large as the input.
    let options: Awaited<ReturnType<typeof parseCreateOptions>>;
    try {
      // -B and -F are the backing_file and backing_fmt options (winning over -o's).
      const backing = [
        ...(settings.backingFile !== undefined ? [{ key: 'backing_file', value: settings.backingFile, flag: false }] : []),
        ...(settings.backingFormat !== undefined ? [{ key: 'backing_fmt', value: settings.backingFormat, flag: false }] : []),
      ];
      options = await parseCreateOptions(host, [...entries, ...backing], traits, output);
    } catch (error) {
      throw new ToolError(errorMessage(error), 1, { cause: error });
    }
    try {
      await createImage(host, output, traits.name, BigInt(totalSize), options);
    } catch (error) {
      if (error instanceof CreationUnsupportedError) throw new ToolError(error.message, 1, { cause: error });
      throw new ToolError(`${output}: error while converting ${traits.name}: ${errorMessage(error)}`, 1, { cause: error });
    }
    // The new image is opened with the creation options that are also open options (luks's
    // key-secret), as qemu-img passes them on.
    const openNames = new Set((traits.driver.openOptions ?? []).map((option) => option.name));
    openOptions = Object.fromEntries(Object.entries(options.formatOptions).filter(([name]) => openNames.has(name)));
  }
  const source = settings.targetImageOpts
    ? { filename: output, imageOpts: true }
    : { filename: output, format: traits.name, formatOptions: openOptions };
  // qemu-img convert writes its target with cache=unsafe unless -t says otherwise: no flushes.
  const target = await openImage(host, source, { readOnly: false, cache: (settings.cache ?? 'unsafe') as CacheMode });
  if (settings.skipCreate && target.size < totalSize) {
    await target.close();
    throw new ToolError('output file is smaller than input file');
  }
  return target;
}

async function copy(
  context: CommandContext,
  settings: ConvertSettings,
  sources: readonly BlockNode[],
  target: BlockNode,
  totalSize: number,
  backed: boolean,
  createdSparse: boolean,
  createdNotZero: boolean,
): Promise<void> {
  const progress = new Progress((text) => context.console.out(text), settings.showProgress && !settings.quiet);
  progress.start();
  try {
    const clusterSize = settings.compress ? target.describe?.().clusterSize : undefined;
    // Only onto a new image without preallocation: one with clusters allocated already (-n, or
    // preallocation=metadata) keeps file holes there that the joined writes' zeroes would fill.
    const unit = createdSparse ? allocationUnit(target) : undefined;
    await copyImages(sources, target, {
      sparseSize: settings.sparseSize,
      // A new image reads as zeroes, unless a backing file shows through it or it is a block device.
      // A format whose new images do not read as zeroes (luks) gets its zero runs written.
      targetIsZero:
        settings.targetIsZero ||
        (!settings.skipCreate && !backed && !showsBlockDevice(context.host, target) && !createdNotZero),
      onlySourceAllocations: backed,
      keepTargetHoles: settings.skipCreate && !backed && context.host.block.mapsDirectly(target),
      depth: settings.coroutines,
      outOfOrder: settings.outOfOrder,
      ...(clusterSize !== undefined ? { compressClusterSize: clusterSize } : {}),
      ...(unit !== undefined ? { allocationUnit: unit } : {}),
      rateLimit: settings.rateLimit,
      ...(context.stop ? { stop: context.stop } : {}),
      onProgress: (done) => progress.set(totalSize === 0 ? 100 : (100 * done) / totalSize),
    });
    // With cache=unsafe (the default) flushes do nothing; other modes make the result durable.
    await target.flush();
  } catch (error) {
    if (error instanceof ReadError) {
      throw new ToolError(`error while reading at byte ${error.offset}: ${error.message}`, 1, { cause: error });
    }
    if (error instanceof WriteError) {
      throw new ToolError(`error while writing at byte ${error.offset}: ${error.message}`, 1, { cause: error });
    }
    throw error;
  }
  progress.set(100);
  progress.end();
}
