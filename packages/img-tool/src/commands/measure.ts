import type { SnapshotSelector } from '@tessera/core';
import { ToolError, UsageError, errorMessage } from '../cli/errors.ts';
import { loadSnapshot, parseSnapshotParam } from '../image/snapshot-source.ts';
import { parseOutputFormat, parseSizeArgument } from '../cli/values.ts';
import { parseCreateOptions } from '../image/create-options.ts';
import { formatJson } from '../image/describe.ts';
import { formatTraits } from '../image/formats.ts';
import { isValidOptionList, parseKeyValueList } from '../image/key-value.ts';
import { openImage } from '../image/open.ts';
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, parseImageCommandOptions } from './common.ts';
import type { Command } from './types.ts';

/** `measure`: how large an image of a format would be, new (`--size`) or converted from a file. */
export const measureCommand: Command = {
  name: 'measure',
  synopsis:
    'measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | [--object objectdef] [--image-opts] [-f fmt] [-l snapshot_param] filename]',
  options: {
    short: ':hf:O:o:l:U',
    long: [HELP, OBJECT, IMAGE_OPTS, FORCE_SHARE, { name: 'output', hasArg: true }, { name: 'size', hasArg: true }],
  },

  async run(context, args) {
    let outputFormat = 'raw';
    const optionLists: string[] = [];
    let snapshot: SnapshotSelector | undefined;
    let size: bigint | undefined;
    const { help, format, imageOpts, output, forceShare } = parseImageCommandOptions(args, (option) => {
      switch (option.key) {
        case 'O':
          outputFormat = option.value!;
          break;
        case 'o':
          if (!isValidOptionList(option.value!)) throw new ToolError(`Invalid option list: ${option.value}`);
          optionLists.push(option.value!);
          break;
        case 'l':
          snapshot = parseSnapshotParam(option.value!);
          break;
        case 'size':
          size = parseSizeArgument('image size', option.value!, context.console);
          break;
      }
    });
    if (help) return context.help();
    const json = parseOutputFormat(output) === 'json';
    if (args.operands.length > 1) throw new ToolError('At most one filename argument is allowed.');
    const filename = args.operands[0];
    if (filename === undefined && (imageOpts || format !== undefined || snapshot !== undefined)) {
      throw new ToolError('--image-opts, -f, and -l require a filename argument.');
    }
    if (filename !== undefined && size !== undefined) throw new ToolError('--size N cannot be used together with a filename.');
    if (filename === undefined && size === undefined) throw new ToolError('Either --size N or one filename must be specified.');

    const image = filename === undefined ? undefined : await openImage(context.host, { filename, format, imageOpts }, { readOnly: true, forceShare });
    try {
      const source = image && snapshot ? await loadSnapshot(image, snapshot) : image;
      const traits = await formatTraits(context.host, outputFormat);
      const driver = traits.driver;
      if (!traits.creatable) throw new ToolError(`Format driver '${outputFormat}' does not support image creation`);
      let formatOptions: Readonly<Record<string, string>>;
      try {
        // Named as a local file would be, so the file protocol's options (raw's preallocation) count.
        formatOptions = (await parseCreateOptions(context.host, parseKeyValueList(optionLists.join(',')), traits, 'measure.img')).formatOptions;
      } catch (error) {
        throw new ToolError([errorMessage(error), `Invalid options for file format '${outputFormat}'`], 1, { cause: error });
      }
      if (!driver.measure) throw new ToolError(`Block driver '${outputFormat}' does not support size measurement`);
      let result;
      try {
        result = await driver.measure(Number(size ?? 0n), formatOptions, source);
      } catch (error) {
        throw new ToolError(errorMessage(error), 1, { cause: error });
      }
      // qemu reports the source's persistent bitmaps when both images can hold them (the driver tells).
      const bitmaps = result.bitmaps;
      if (json) {
        context.console.out(
          formatJson({ ...(bitmaps !== undefined ? { bitmaps } : {}), required: result.required, 'fully-allocated': result.fullyAllocated }),
        );
      } else {
        context.console.out(
          `required size: ${result.required}\nfully allocated size: ${result.fullyAllocated}\n${bitmaps !== undefined ? `bitmaps size: ${bitmaps}\n` : ''}`,
        );
      }
    } finally {
      await image?.close();
    }
    return 0;
  },
};
