import { ToolError, UsageError, errorMessage } from '../cli/errors.ts';
import { openImage } from '../image/open.ts';
import { describeErrno, errnoCode } from '../image/errno.ts';

/** qemu-img resize reads, writes and resizes its image (and forbids nothing of its own; a format with metadata does). */
const RESIZING = { use: ['consistent read', 'write', 'resize'], unshare: [] } as const;
import { MAX_SIZE, parseSize } from '../image/size.ts';
import { HELP, IMAGE_OPTS, OBJECT, formatConflict, parseImageCommandOptions } from './common.ts';
import type { Command } from './types.ts';

const PREALLOCATION_MODES = ['off', 'metadata', 'falloc', 'full'];
const SHRINK_WARNING =
  "Shrinking an image will delete all data beyond the shrunken image's end. Before performing such an operation, make sure there is no important data there.";

/** `resize`: a new virtual size, absolute or `+`/`-` relative to the current one. */
export const resizeCommand: Command = {
  name: 'resize',
  synopsis: 'resize [--object objectdef] [--image-opts] [-f fmt] [--preallocation=prealloc] [-q] [--shrink] filename [+ | -]size',
  options: {
    short: ':f:hq',
    long: [HELP, OBJECT, IMAGE_OPTS, { name: 'preallocation', hasArg: true }, { name: 'shrink', hasArg: false }],
  },
  // qemu-img takes the size off the command line before parsing options, so `-1G` is a size.
  lastWordIsOperand: true,

  async run(context, args) {
    let quiet = false;
    let shrink = false;
    let preallocation = 'off';
    const parsed = parseImageCommandOptions(args, (option) => {
      switch (option.key) {
        case 'q':
          quiet = true;
          break;
        case 'shrink':
          shrink = true;
          break;
        case 'preallocation':
          preallocation = option.value!;
          if (!PREALLOCATION_MODES.includes(preallocation)) throw new ToolError(`Invalid preallocation mode '${preallocation}'`);
          break;
      }
    });
    if (parsed.help) return context.help();
    const { format, imageOpts } = parsed;
    if (args.operands.length !== 2) throw new UsageError('Expecting image file name and size');
    if (imageOpts && format !== undefined) throw formatConflict();
    const [filename, sizeText] = args.operands as [string, string];
    const relative = sizeText.startsWith('+') ? 1n : sizeText.startsWith('-') ? -1n : 0n;
    const amount = parseSizeOption(relative === 0n ? sizeText : sizeText.slice(1));

    const image = await openImage(context.host, { filename, format, imageOpts }, { readOnly: false, permissions: RESIZING });
    try {
      const current = BigInt(image.size);
      const total = relative === 0n ? amount : current + relative * amount;
      if (total <= 0n) throw new ToolError('New image size must be positive');
      if (preallocation !== 'off' && total < current) throw new ToolError('Preallocation can only be used for growing images');
      if (total < current && !shrink) {
        context.console.error('Use the --shrink option to perform a shrink operation.');
        context.console.warn(SHRINK_WARNING);
        return 1;
      }
      if (!image.resize) throw new ToolError('Image format driver does not support resize');
      if (total > BigInt(Number.MAX_SAFE_INTEGER)) throw new ToolError(`The image size is too large for file format '${image.driver}'`);
      try {
        await image.resize(Number(total), { shrink, preallocation });
        await image.flush();
      } catch (error) {
        throw new ToolError(resizeFailure(error, context.host.block.mapsDirectly(image), preallocation), 1, { cause: error });
      }
    } finally {
      await image.close();
    }
    if (!quiet) context.console.out('Image resized.\n');
    return 0;
  },
};

/** The size as qemu's `size` option reads it. */
function parseSizeOption(text: string): bigint {
  const parsed = parseSize(text);
  if (parsed.ok && parsed.value <= MAX_SIZE) return parsed.value;
  throw new ToolError(
    parsed.ok || parsed.reason === 'invalid'
      ? [
          "Parameter 'size' expects a non-negative number below 2^64\n" +
            'Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n' +
            'and exabytes, respectively.',
        ]
      : `Value '${text}' is out of range for parameter 'size'`,
  );
}

/** qemu-img's words: a format image growing its file says so before the file driver's reason. */
function resizeFailure(error: unknown, mapsDirectly: boolean, preallocation: string): string {
  const code = errnoCode(error);
  const outOfSpace = code === 'ENOSPC' || code === 'EDQUOT';
  if (outOfSpace && !mapsDirectly && (preallocation === 'falloc' || preallocation === 'full')) {
    return `Failed to resize underlying file: Could not write zeros for preallocation: ${describeErrno(code!)}`;
  }
  return errorMessage(error);
}
