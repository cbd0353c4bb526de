import { optionHelpLines, parseAmendOptions, withSizeOption } from '@tessera/core';
import { ToolError, UsageError, errorMessage } from '../cli/errors.ts';
import { checkCacheMode } from '../cli/values.ts';
import { formatTraits } from '../image/formats.ts';
import { asksForHelp, isValidOptionList, parseKeyValueList } from '../image/key-value.ts';
import { openImage } from '../image/open.ts';
import { Progress } from '../image/progress.ts';
import { HELP, IMAGE_OPTS, OBJECT, formatConflict } from './common.ts';
import type { Command } from './types.ts';


/** `amend`: change format options of an existing image in place. */
export const amendCommand: Command = {
  name: 'amend',
  synopsis: 'amend [--object objectdef] [--image-opts] [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename',
  options: { short: ':ho:f:t:pq', long: [HELP, OBJECT, IMAGE_OPTS, { name: 'force', hasArg: false }] },

  async run(context, args) {
    let format: string | undefined;
    let imageOpts = false;
    let progress = false;
    let quiet = false;
    let cache: string | undefined;
    let force = false;
    const optionLists: string[] = [];
    for (const option of args.options) {
      switch (option.key) {
        case 'h':
          return context.help();
        case 'o':
          if (!isValidOptionList(option.value!)) throw new ToolError(`Invalid option list: ${option.value}`);
          optionLists.push(option.value!);
          break;
        case 'f':
          format = option.value;
          break;
        case 't':
          cache = option.value;
          break;
        case 'p':
          progress = true;
          break;
        case 'q':
          quiet = true;
          break;
        case 'image-opts':
          imageOpts = true;
          break;
        case 'force':
          force = true; // luks key slots: erase the last one, overwrite an active one
          break;
        case 'object':
          break; // defined before the command runs (objects/define.ts)
      }
    }
    if (optionLists.length === 0) throw new UsageError('Must specify options (-o)');
    const entries = parseKeyValueList(optionLists.join(','));
    // With the format named, help needs no image, not even its name (qemu-img prints it before opening).
    if (format !== undefined && asksForHelp(entries)) {
      const { driver } = await formatTraits(context.host, format);
      if (driver.amendOptions) {
        context.console.out([`Amend options for '${format}':`, ...optionHelpLines(driver.amendOptions), ''].join('\n'));
        return 0;
      }
    }

    const filename = args.operands.length === 1 ? args.operands[0] : undefined;
    if (filename === undefined) throw new ToolError('Expecting one image file name');
    if (imageOpts && format !== undefined) throw formatConflict();
    if (cache !== undefined) checkCacheMode(cache, false);
    const image = await openImage(context.host, { filename, format, imageOpts }, { readOnly: false });
    try {
      if (!image.amend) throw new ToolError(`Format driver '${image.driver}' does not support option amendment`);
      // What can be amended, and its help, is the driver's schema.
      const driver = await context.host.block.formatDriver(image.driver);
      const amendable = driver.amendOptions ?? [];
      if (asksForHelp(entries)) {
        context.console.out([`Amend options for '${image.driver}':`, ...optionHelpLines(amendable), ''].join('\n'));
        return 0;
      }
      let options: Record<string, string>;
      try {
        options = parseAmendOptions(entries, amendable, withSizeOption(driver.createOptions ?? []));
      } catch (error) {
        throw new ToolError(errorMessage(error), 1, { cause: error });
      }
      if (options.backing_file !== undefined || options.backing_fmt !== undefined) {
        throw new ToolError(`Cannot amend the backing file\nYou can use '${context.console.program} rebase' instead.`);
      }
      const display = new Progress((text) => context.console.out(text), progress && !quiet);
      display.start();
      try {
        await image.amend(options, { force });
        await image.flush();
      } catch (error) {
        throw new ToolError(errorMessage(error), 1, { cause: error });
      } finally {
        display.set(100);
        display.end();
      }
    } finally {
      await image.close();
    }
    return 0;
  },
};
