import type { BitmapOperation } from '@tessera/core';
import { ToolError, UsageError, errorMessage } from '../cli/errors.ts';
import { openImage } from '../image/open.ts';
import { HELP, IMAGE_OPTS, OBJECT, boundedSize, parseImageCommandOptions } from './common.ts';
import type { Command } from './types.ts';

const FLAG_OPERATIONS = ['add', 'remove', 'clear', 'enable', 'disable'] as const;
const flag = (name: string) => ({ name, hasArg: false });

/**
 * `bitmap`: qemu-img's operations on an image's persistent dirty bitmaps, applied in command-line
 * order, each stored before the next (`--add [-g granularity] [--disable]`, `--remove`, `--clear`,
 * `--enable`, `--disable`). `--merge` is refused: merging needs the bitmaps' contents, which this
 * program does not write yet.
 */
export const bitmapCommand: Command = {
  name: 'bitmap',
  synopsis:
    'bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b source_file [-F source_fmt]] [-g granularity] [--object objectdef] [--image-opts | -f fmt] filename bitmap',
  options: { short: ':b:hf:F:g:', long: [HELP, OBJECT, IMAGE_OPTS, ...FLAG_OPERATIONS.map(flag), { name: 'merge', hasArg: true }] },

  async run(context, args) {
    const kinds: string[] = [];
    let granularity: number | undefined;
    let sourceFile: string | undefined;
    let sourceFormat: string | undefined;
    const parsed = parseImageCommandOptions(args, (option) => {
      if ((FLAG_OPERATIONS as readonly string[]).includes(option.key) || option.key === 'merge') kinds.push(option.key);
      else if (option.key === 'g') granularity = Number(boundedSize('granularity', option.value ?? '', 0n, 2n ** 63n - 1n));
      else if (option.key === 'b') sourceFile = option.value;
      else if (option.key === 'F') sourceFormat = option.value;
    });
    if (parsed.help) return context.help();
    if (kinds.length === 0) throw new ToolError('Need at least one of --add, --remove, --clear, --enable, --disable, or --merge');
    if (granularity !== undefined && !kinds.includes('add')) throw new ToolError('granularity only supported with --add');
    if (sourceFormat !== undefined && sourceFile === undefined) throw new ToolError('-F only supported with -b');
    if (sourceFile !== undefined && !kinds.includes('merge')) throw new ToolError('Merge bitmap source file only supported with --merge');
    if (args.operands.length !== 2) throw new UsageError('Expecting filename and bitmap name');
    const [filename, name] = args.operands as [string, string];
    if (kinds.includes('merge')) {
      throw new ToolError(`Operation merge on bitmap ${name} failed: merging bitmaps is not supported by this program yet; use qemu-img bitmap --merge`);
    }
    // `--add --disable` adds a disabled bitmap (qemu-img applies the two in turn, to the same end).
    const operations: BitmapOperation[] = kinds.map((kind) =>
      kind === 'add' ? { kind: 'add', name, ...(granularity !== undefined ? { granularity } : {}) } : { kind: kind as Exclude<BitmapOperation['kind'], 'add'>, name },
    );
    const image = await openImage(context.host, { filename, format: parsed.format, imageOpts: parsed.imageOpts }, { readOnly: false, forBitmaps: true });
    try {
      const bitmaps = image.persistentBitmaps;
      for (const operation of operations) {
        if (!bitmaps) {
          throw new ToolError(`Operation ${operation.kind} on bitmap ${name} failed: Can't store persistent bitmaps to '${filename}': Operation not supported`);
        }
        try {
          await bitmaps.change(operation);
        } catch (error) {
          throw new ToolError(`Operation ${operation.kind} on bitmap ${name} failed: ${errorMessage(error)}`, 1, { cause: error });
        }
      }
    } finally {
      await image.close();
    }
    return 0;
  },
};
