import type { BlockNode } from '@tessera/core';
import { ToolError, UsageError } from '../cli/errors.ts';
import { checkCacheMode } from '../cli/values.ts';
import { ReadError } from '../image/chunks.ts';
import { StatusError, compareImages, type CompareOutcome } from '../image/compare-images.ts';
import { openImage } from '../image/open.ts';
import { Progress } from '../image/progress.ts';
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, formatConflict, parseImageCommandOptions } from './common.ts';
import type { Command } from './types.ts';

/** compare's exit codes (qemu-img's). */
const IDENTICAL = 0;
const DIFFERENT = 1;
const OPEN_FAILED = 2;
const STATUS_FAILED = 3;
const READ_FAILED = 4;

/** `compare`: whether two images hold the same guest-visible content. */
export const compareCommand: Command = {
  name: 'compare',
  movesData: true,
  synopsis: 'compare [--image-opts] [-f fmt] [-F fmt] [-T src_cache] [-p] [-q] [-s] [-U] filename1 filename2',
  options: { short: ':hf:F:T:pqsU', long: [HELP, OBJECT, IMAGE_OPTS, FORCE_SHARE] },

  async run(context, args) {
    let format2: string | undefined;
    let cache: string | undefined;
    let showProgress = false;
    let quiet = false;
    let strict = false;
    const common = parseImageCommandOptions(
      args,
      (option) => {
        switch (option.key) {
          case 'F':
            format2 = option.value;
            break;
          case 'T':
            cache = option.value;
            break;
          case 'p':
            showProgress = true;
            break;
          case 'q':
            quiet = true;
            break;
          case 's':
            strict = true;
            break;
        }
      },
      OPEN_FAILED,
    );
    if (common.help) return context.help();
    const { format: format1, imageOpts } = common;
    if (args.operands.length !== 2) throw new UsageError('Expecting two image file names');
    const [filename1, filename2] = args.operands as [string, string];
    if (cache !== undefined) checkCacheMode(cache, true, OPEN_FAILED);
    if (imageOpts && (format1 !== undefined || format2 !== undefined)) throw formatConflict(OPEN_FAILED);

    const say = (text: string): void => {
      if (!quiet) context.console.out(text);
    };
    const progress = new Progress(say, showProgress && !quiet);
    const open = { readOnly: true, exitCode: OPEN_FAILED, forceShare: common.forceShare };
    const first = await openImage(context.host, { filename: filename1, format: format1, imageOpts }, open);
    let second: BlockNode;
    try {
      second = await openImage(context.host, { filename: filename2, format: format2, imageOpts }, open);
    } catch (error) {
      await first.close();
      throw error;
    }

    try {
      progress.start();
      const total = Math.max(first.size, second.size);
      const granularity = (node: BlockNode) => context.host.block.statusGranularity(node);
      const outcome = await compareImages(first, second, { strict, granularity }, {
        progress: (done) => progress.set(total === 0 ? 100 : (100 * done) / total),
        sizeMismatch: () => say('Warning: Image size mismatch!\n'),
      });
      say(describeOutcome(outcome));
      progress.end();
      return outcome.kind === 'identical' ? IDENTICAL : DIFFERENT;
    } catch (error) {
      throw compareFailure(error);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  },
};

function describeOutcome(outcome: CompareOutcome): string {
  switch (outcome.kind) {
    case 'identical':
      return 'Images are identical.\n';
    case 'content-mismatch':
      return `Content mismatch at offset ${outcome.offset}!\n`;
    case 'strict-size-mismatch':
      return 'Strict mode: Image size mismatch!\n';
    case 'strict-status-mismatch':
      return `Strict mode: Offset ${outcome.offset} block status mismatch!\n`;
  }
}

function compareFailure(error: unknown): unknown {
  if (error instanceof ReadError) {
    return new ToolError(`Error while reading offset ${error.offset} of ${error.node.filename}: ${error.message}`, READ_FAILED, {
      cause: error,
    });
  }
  if (error instanceof StatusError) {
    return new ToolError(`Sector allocation test failed for ${error.node.filename}`, STATUS_FAILED, { cause: error });
  }
  return error;
}
