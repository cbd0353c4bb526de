import type { BitmapOperation, BlockNode, PersistentBitmaps } from '@tessera/core';
import { ToolError, UsageError, errorMessage } from '../cli/errors.ts';
import { openImage } from '../image/open.ts';
import { HELP, IMAGE_OPTS, OBJECT, boundedSize, parseImageCommandOptions } from './common.ts';
import type { Command } from './types.ts';

const FLAG_OPERATIONS = ['add', 'remove', 'clear', 'enable', 'disable'] as const;
const flag = (name: string) => ({ name, hasArg: false });

/**
 * `bitmap`: qemu-img's operations on an image's persistent dirty bitmaps, applied in command-line
 * order, each stored before the next (`--add [-g granularity] [--disable]`, `--remove`, `--clear`,
 * `--enable`, `--disable`, `--merge SOURCE [-b source_file [-F fmt]]`).
 */
export const bitmapCommand: Command = {
  name: 'bitmap',
  synopsis:
    'bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b source_file [-F source_fmt]] [-g granularity] [--object objectdef] [--image-opts | -f fmt] filename bitmap',
  options: { short: ':b:hf:F:g:', long: [HELP, OBJECT, IMAGE_OPTS, ...FLAG_OPERATIONS.map(flag), { name: 'merge', hasArg: true }] },

  async run(context, args) {
    const kinds: string[] = [];
    const mergeSources: string[] = [];
    let granularity: number | undefined;
    let sourceFile: string | undefined;
    let sourceFormat: string | undefined;
    const parsed = parseImageCommandOptions(args, (option) => {
      if ((FLAG_OPERATIONS as readonly string[]).includes(option.key)) kinds.push(option.key);
      else if (option.key === 'merge') {
        kinds.push('merge');
        mergeSources.push(option.value ?? '');
      }
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
    // `--add --disable` adds a disabled bitmap (qemu-img applies the two in turn, to the same end).
    let merges = 0;
    const operations: (BitmapOperation | { kind: 'merge'; name: string; from: string })[] = kinds.map((kind) =>
      kind === 'add'
        ? { kind: 'add', name, ...(granularity !== undefined ? { granularity } : {}) }
        : kind === 'merge'
          ? { kind: 'merge', name, from: mergeSources[merges++]! }
          : { kind: kind as Exclude<BitmapOperation['kind'], 'add'>, name },
    );
    const image = await openImage(context.host, { filename, format: parsed.format, imageOpts: parsed.imageOpts }, { readOnly: false, forBitmaps: true });
    // -b: the merge sources' image, opened read-only (else they are the image's own bitmaps).
    let sourceImage: BlockNode | undefined;
    try {
      if (sourceFile !== undefined) {
        sourceImage = await openImage(context.host, { filename: sourceFile, format: sourceFormat, imageOpts: false }, { readOnly: true });
      }
      const bitmaps = image.persistentBitmaps;
      for (const operation of operations) {
        if (!bitmaps) {
          throw new ToolError(`Operation ${operation.kind} on bitmap ${name} failed: Can't store persistent bitmaps to '${filename}': Operation not supported`);
        }
        try {
          if (operation.kind === 'merge') await merge(bitmaps, (sourceImage ?? image).persistentBitmaps, operation.from, name);
          else await bitmaps.change(operation);
        } catch (error) {
          throw new ToolError(`Operation ${operation.kind} on bitmap ${name} failed: ${errorMessage(error)}`, 1, { cause: error });
        }
      }
    } finally {
      await sourceImage?.close();
      await image.close();
    }
    return 0;
  },
};

/** OR bitmap `from` (of this image or of -b's) into `name`; both of one granularity here. */
async function merge(into: PersistentBitmaps, source: PersistentBitmaps | undefined, from: string, name: string): Promise<void> {
  if (!source) throw new Error("Source lacks bitmap support");
  const sourceInfo = source.list().find((b) => b.name === from);
  if (!sourceInfo) throw new Error(`Dirty bitmap '${from}' not found`);
  const target = into.list().find((b) => b.name === name);
  if (!target) throw new Error(`Dirty bitmap '${name}' not found`);
  const bits = await source.read(from);
  await into.merge(name, sourceInfo.granularity === target.granularity ? bits : regranulated(bits, sourceInfo.granularity, target.granularity));
}

/** Bits of granularity `from` as bits of granularity `to`: a target granule is dirty when any byte of it is. */
function regranulated(bits: Uint8Array, from: number, to: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((bits.length * 8 * from) / to / 8));
  for (let i = 0; i < bits.length * 8; i++) {
    if (!(bits[i >> 3]! & (1 << (i & 7)))) continue;
    const last = Math.min(Math.floor(((i + 1) * from - 1) / to), out.length * 8 - 1);
    for (let j = Math.floor((i * from) / to); j <= last; j++) out[j >> 3]! |= 1 << (j & 7);
  }
  return out;
}
