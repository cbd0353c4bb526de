import { statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { protocolOf, resolveRelative, type Host } from '@tessera/core';
import { defineObject } from '../cli/objects/index.ts';
import { ToolError, UsageError, errorMessage } from '../cli/errors.ts';
import { parseSizeArgument } from '../cli/values.ts';
import { CreationUnsupportedError, createImage } from '../image/create.ts';
import { createOptionsHelp, formattingLine, parseCreateOptions } from '../image/create-options.ts';
import { formatTraits, type FormatTraits } from '../image/formats.ts';
import { asksForHelp, isValidOptionList, parseKeyValueList } from '../image/key-value.ts';
import { HELP, OBJECT } from './common.ts';
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
          defineObject(option.value!);
          break;
      }
    }
    const entries = parseKeyValueList(optionLists.join(','));
    const [filename, sizeText, extra] = args.operands;
    if (asksForHelp(entries)) {
      context.console.out(await createOptionsHelp(context.host, refuseUncreatable(await formatTraits(context.host, format)), filename));
      return 0;
    }
    if (filename === undefined) throw new UsageError('Expecting image file name');
    const positionalSize = sizeText === undefined ? undefined : parseSizeArgument('image size', sizeText, context.console);
    if (extra !== undefined) throw new UsageError(`Unexpected argument: ${extra}`);

    // From here on qemu-img names the file in front of each message.
    try {
      // A read-only format is refused before anything is checked or written, as qemu-img does.
      const traits = refuseUncreatable(await formatTraits(context.host, format));
      const parsed = await parseCreateOptions(context.host, entries, traits, filename);
      const { size: optionSize, fileOptions } = parsed;
      // -b and -F are the backing_file and backing_fmt options.
      const formatOptions = {
        ...parsed.formatOptions,
        ...(backingFile !== undefined ? { backing_file: backingFile } : {}),
        ...(backingFormat !== undefined ? { backing_fmt: backingFormat } : {}),
      };
      if (formatOptions.backing_file !== undefined && sameFile(filename, resolveRelative(filename, formatOptions.backing_file))) {
        throw new Error('Error: Trying to create an image with the same filename as the backing file');
      }
      const size =
        checkCreation(traits, optionSize, positionalSize, formatOptions.backing_file, formatOptions.backing_fmt) ??
        (await backingSize(context.host, filename, formatOptions.backing_file!, formatOptions.backing_fmt));
      const summary = formattingLine(filename, format, parsed.schema, size, { ...formatOptions, ...fileOptions });
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

/** qemu-img's refusal of a format whose driver cannot make images (bochs, cloop, dmg). */
function refuseUncreatable(traits: FormatTraits): FormatTraits {
  if (!traits.creatable) throw new ToolError(`Format driver '${traits.name}' does not support image creation`);
  return traits;
}

/** The size to create with, after qemu-img's checks of size and backing options. */
function checkCreation(
  traits: FormatTraits,
  optionSize: bigint | undefined,
  positionalSize: bigint | undefined,
  backingFile: string | undefined,
  backingFormat: string | undefined,
): bigint | undefined {
  if (optionSize !== undefined && positionalSize !== undefined) {
    throw new Error('The image size must be specified only once');
  }
  if (backingFile !== undefined && !traits.capabilities.backingFile) {
    throw new Error(`Backing file not supported for file format '${traits.name}'`);
  }
  if (backingFormat !== undefined && !traits.capabilities.backingFile) {
    throw new Error(`Backing file format not supported for file format '${traits.name}'`);
  }
  if (backingFile !== undefined && backingFormat === undefined) {
    throw new Error('Backing file specified without backing format');
  }
  const size = positionalSize ?? optionSize;
  if (size === undefined && backingFile === undefined) throw new Error('Image creation needs a size parameter');
  return size;
}

/** Without a size, the image is as large as its backing file (named relative to the image). */
async function backingSize(host: Host, filename: string, backingFile: string, backingFormat: string | undefined): Promise<bigint> {
  let backing;
  try {
    // Only its size is read: as qemu-img, no image lock (it may be in use).
    backing = await host.block.open(resolveRelative(filename, backingFile), {
      readOnly: true,
      permissions: { use: [], unshare: [] },
      forceShare: true,
      ...(backingFormat ? { format: backingFormat } : {}),
    });
  } catch (error) {
    throw new Error(`Could not open backing image: ${errorMessage(error)}`, { cause: error });
  }
  try {
    return BigInt(backing.size);
  } finally {
    await backing.close();
  }
}

/**
 * Whether the new image would be its own backing file: qemu-img compares the names; here also the
 * resolved paths and, when the backing file exists, the file itself (a link or another spelling).
 */
function sameFile(filename: string, backing: string): boolean {
  if (protocolOf(filename) !== 'file' || protocolOf(backing) !== 'file') return filename === backing;
  if (resolvePath(filename) === resolvePath(backing)) return true;
  const [a, b] = [statSync(filename, { throwIfNoEntry: false }), statSync(backing, { throwIfNoEntry: false })];
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
}
