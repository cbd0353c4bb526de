import { ToolError, UsageError, errorMessage } from '../cli/errors.ts';
import { parseSizeArgument } from '../cli/values.ts';
import { CreationUnsupportedError, createImage } from '../image/create.ts';
import { createOptionsHelp, parseCreateOptions } from '../image/create-options.ts';
import { formatTraits, type FormatTraits } from '../image/formats.ts';
import { asksForHelp, isValidOptionList, parseKeyValueList } from '../image/key-value.ts';
import { HELP, OBJECT, objectsUnsupported } from './common.ts';
import type { Command } from './types.ts';

const DEFAULT_FORMAT = 'raw';

/** `create`: a new empty image of the given size (raw by default). */
export const createCommand: Command = {
  name: 'create',
  synopsis: 'create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]',
  options: { short: ':F:b:f:ho:qu', long: [HELP, OBJECT] },

  async run(context, args) {
    let format = DEFAULT_FORMAT;
    let backingFile: string | undefined;
    let backingFormat: string | undefined;
    const optionLists: string[] = [];
    let quiet = false;
    for (const option of args.options) {
      switch (option.key) {
        case 'h':
          return context.help();
        case 'f':
          format = option.value!;
          break;
        case 'b':
          backingFile = option.value;
          break;
        case 'F':
          backingFormat = option.value;
          break;
        case 'o':
          if (!isValidOptionList(option.value!)) throw new ToolError(`Invalid option list: ${option.value}`);
          optionLists.push(option.value!);
          break;
        case 'q':
          quiet = true;
          break;
        case 'u':
          break; // backing files are not opened anyway
        case 'object':
          throw objectsUnsupported();
      }
    }
    const entries = parseKeyValueList(optionLists.join(','));
    const [filename, sizeText, extra] = args.operands;
    if (asksForHelp(entries)) {
      context.console.out(createOptionsHelp(await formatTraits(context.host, format), filename));
      return 0;
    }
    if (filename === undefined) throw new UsageError('Expecting image file name');
    const positionalSize = sizeText === undefined ? undefined : parseSizeArgument('image size', sizeText, context.console);
    if (extra !== undefined) throw new UsageError(`Unexpected argument: ${extra}`);

    // From here on qemu-img names the file in front of each message.
    try {
      const traits = await formatTraits(context.host, format);
      const { size: optionSize, formatOptions, fileOptions, summary: described } = parseCreateOptions(entries, traits, filename);
      const size = checkCreation(traits, optionSize, positionalSize, backingFile, backingFormat);
      const summary = `Formatting '${filename}', fmt=${format} ${[`size=${size}`, ...described].join(' ')}\n`;
      try {
        await createImage(context.host, filename, format, size, { formatOptions, fileOptions });
      } catch (error) {
        // A protocol that cannot create images fails before qemu-img announces anything.
        if (!(error instanceof CreationUnsupportedError) && !quiet) context.console.out(summary);
        throw error;
      }
      if (!quiet) context.console.out(summary);
      return 0;
    } catch (error) {
      const messages = error instanceof ToolError ? error.messages : [errorMessage(error)];
      throw new ToolError(messages.map((message) => `${filename}: ${message}`), 1, { cause: error });
    }
  },
};

/** The size to create with, after qemu-img's checks of size and backing options. */
function checkCreation(
  traits: FormatTraits,
  optionSize: bigint | undefined,
  positionalSize: bigint | undefined,
  backingFile: string | undefined,
  backingFormat: string | undefined,
): bigint {
  if (optionSize !== undefined && positionalSize !== undefined) {
    throw new Error('The image size must be specified only once');
  }
  if (backingFile !== undefined && !traits.backingFile) {
    throw new Error(`Backing file not supported for file format '${traits.name}'`);
  }
  if (backingFormat !== undefined && !traits.backingFile) {
    throw new Error(`Backing file format not supported for file format '${traits.name}'`);
  }
  if (backingFile !== undefined) throw new Error('Backing files are not supported yet');
  const size = positionalSize ?? optionSize;
  if (size === undefined) throw new Error('Image creation needs a size parameter');
  return size;
}
