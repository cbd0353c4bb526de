import type { BlockNode, CheckRepair, CheckResult } from '@tessera/core';
import type { Console } from '../cli/console.ts';
import { ToolError, UsageError, errorMessage } from '../cli/errors.ts';
import { checkCacheMode, parseOutputFormat } from '../cli/values.ts';
import { humanCheckReport, jsonCheckReport, repairedReport } from '../image/check-report.ts';
import { openImage } from '../image/open.ts';
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, formatConflict, parseImageCommandOptions } from './common.ts';
import type { Command } from './types.ts';

/** Exit code for formats without a consistency check. */
const NOT_SUPPORTED = 63;

/**
 * `check`: metadata consistency of an image, optionally repaired. Exit codes as qemu-img's:
 * 0 clean, 2 corruptions, 3 leaks only, 63 no check for the format, 1 the check failed.
 */
export const checkCommand: Command = {
  name: 'check',
  movesData: true,
  synopsis: 'check [--object objectdef] [--image-opts] [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-T src_cache] [-U] filename',
  options: {
    short: ':hf:r:T:qU',
    long: [HELP, { name: 'format', hasArg: true, key: 'f' }, { name: 'repair', hasArg: true, key: 'r' }, { name: 'output', hasArg: true }, OBJECT, IMAGE_OPTS, FORCE_SHARE],
  },

  async run(context, args) {
    let repair: CheckRepair = 'none';
    let quiet = false;
    const common = parseImageCommandOptions(args, (option) => {
      switch (option.key) {
        case 'r':
          if (option.value !== 'leaks' && option.value !== 'all') {
            throw new UsageError(`Unknown option value for -r (expecting 'leaks' or 'all'): ${option.value}`);
          }
          repair = option.value;
          break;
        case 'T':
          checkCacheMode(option.value!, true);
          break;
        case 'q':
          quiet = true;
          break;
      }
    });
    if (common.help) return context.help();
    const { format, output, imageOpts, forceShare } = common;
    const outputFormat = parseOutputFormat(output);
    if (args.operands.length !== 1) throw new UsageError('Expecting one image file name');
    if (imageOpts && format !== undefined) throw formatConflict();
    const filename = args.operands[0]!;
    if (forceShare && repair !== 'none') throw new ToolError(`Could not open '${filename}': force-share=on can only be used with read-only images`);

    const image = await openImage(context.host, { filename, format, imageOpts }, { readOnly: repair === 'none', forRepair: repair !== 'none', forceShare });
    try {
      if (!image.check) throw new ToolError('This image format does not support checks', NOT_SUPPORTED);
      const say = (text: string) => {
        if (!quiet) context.console.out(text);
      };
      let result = await runCheck(context.console, image, repair);
      if (result.corruptionsFixed || result.leaksFixed) {
        if (outputFormat === 'human') say(repairedReport(result));
        const fixed = { leaksFixed: result.leaksFixed, corruptionsFixed: result.corruptionsFixed };
        result = { ...(await runCheck(context.console, image, 'none')), ...fixed };
      }
      say(outputFormat === 'human' ? humanCheckReport(result) : jsonCheckReport(result, filename, image.driver));
      if (result.checkErrors) throw new ToolError('Check failed');
      return result.corruptions ? 2 : result.leaks ? 3 : 0;
    } finally {
      await image.close();
    }
  },
};

/** One pass of the format's check; its findings go to stderr as they do in qemu-img, whatever -q says. */
async function runCheck(console: Console, image: BlockNode, repair: CheckRepair): Promise<CheckResult> {
  try {
    const result = await image.check!(repair);
    printFindings(console, result.messages);
    return result;
  } catch (error) {
    const messages = (error as { messages?: unknown }).messages;
    if (Array.isArray(messages)) printFindings(console, messages.map(String));
    throw new ToolError(`Check failed: ${errorMessage(error)}`, 1, { cause: error });
  }
}

function printFindings(console: Console, messages: readonly string[]): void {
  // Unprefixed lines on stderr (qemu's driver prints them with fprintf).
  if (messages.length) console.errorText(messages.map((line) => `${line}\n`).join(''));
}
