import type { BlockNode } from '@tessera/core';
import { ToolError, errorMessage } from '../cli/errors.ts';
import { createImage } from '../image/create.ts';
import { STABLE_SOURCE, openImage } from '../image/open.ts';
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, boundedSize, formatConflict, parseImageCommandOptions } from './common.ts';
import type { Command } from './types.ts';

const INT_MAX = 2 ** 31 - 1;
const INT64_MAX = (1n << 63n) - 1n;

interface DdOperands {
  blockSize: number;
  count?: bigint;
  skip?: bigint;
  input?: string;
  output?: string;
}

/**
 * `dd`: copy an image's blocks into a new image, dd(1)-style operands. The output is created
 * with the input's size, cut as qemu-img cuts it: to `count` blocks when they are fewer, then less
 * the `skip` blocks; blocks are copied from block `skip` until that size.
 */
export const ddCommand: Command = {
  name: 'dd',
  movesData: true,
  synopsis: 'dd [--image-opts] [-U] [-f fmt] [-O output_fmt] [bs=block_size] [count=blocks] [skip=blocks] if=input of=output',
  options: { short: ':hf:O:U', long: [HELP, OBJECT, IMAGE_OPTS, FORCE_SHARE] },

  async run(context, args) {
    let outputFormat = 'raw';
    const common = parseImageCommandOptions(args, (option) => {
      if (option.key === 'O') outputFormat = option.value!;
    });
    if (common.help) return context.help();
    const dd = parseOperands(args.operands);
    if (dd.input === undefined || dd.output === undefined) throw new ToolError('Must specify both input and output files');
    if (common.imageOpts && common.format !== undefined) throw formatConflict();

    const input = await openImage(context.host, { filename: dd.input, format: common.format, imageOpts: common.imageOpts }, // Beyond qemu-img (whose dd source forbids nothing): the input is kept from change, so `of=` naming
    // the input is refused before the output is created over it.
    { readOnly: true, permissions: STABLE_SOURCE, forceShare: common.forceShare });
    try {
      try {
        await context.host.block.formatDriver(outputFormat);
      } catch {
        throw new ToolError('Unknown file format');
      }
      const bs = BigInt(dd.blockSize);
      let size = BigInt(input.size);
      if (dd.count !== undefined && dd.count * bs < size) size = dd.count * bs;
      const skipBytes = (dd.skip ?? 0n) * bs;
      const beyond = skipBytes > size;
      try {
        await createImage(context.host, dd.output, outputFormat, beyond ? 0n : size - skipBytes);
      } catch (error) {
        throw new ToolError(`${dd.output}: error while creating output image: ${errorMessage(error)}`, 1, { cause: error });
      }
      const output = await openImage(context.host, { filename: dd.output, format: outputFormat, imageOpts: common.imageOpts }, { readOnly: false });
      try {
        // qemu-img reports a skip past the end but creates the empty output and succeeds.
        if (beyond) context.console.error(`${dd.input}: cannot skip to specified offset`);
        await copyBlocks(input, output, beyond ? Number(size) : Number(skipBytes), Number(size), dd.blockSize);
      } finally {
        await output.close();
      }
    } finally {
      await input.close();
    }
    return 0;
  },
};

function parseOperands(operands: readonly string[]): DdOperands {
  const dd: DdOperands = { blockSize: 512 };
  for (const operand of operands) {
    const equals = operand.indexOf('=');
    if (equals < 0) throw new ToolError(`unrecognized operand ${operand}`);
    const [name, value] = [operand.slice(0, equals), operand.slice(equals + 1)];
    switch (name) {
      case 'bs':
        dd.blockSize = Number(boundedSize('bs', value, 1n, BigInt(INT_MAX)));
        break;
      case 'count':
        dd.count = boundedSize('count', value, 0n, INT64_MAX);
        break;
      case 'skip':
        dd.skip = boundedSize('skip', value, 0n, INT64_MAX);
        break;
      case 'if':
        dd.input = value;
        break;
      case 'of':
        dd.output = value;
        break;
      default:
        throw new ToolError(`unrecognized operand ${name}`);
    }
  }
  return dd;
}

/** Blocks of `input[from, end)` to the start of `output`, one block at a time (the last may be short). */
async function copyBlocks(input: BlockNode, output: BlockNode, from: number, end: number, blockSize: number): Promise<void> {
  const buffer = new Uint8Array(Math.min(blockSize, Math.max(0, end - from)));
  for (let at = from, out = 0; at < end; ) {
    const data = buffer.subarray(0, Math.min(blockSize, end - at));
    try {
      await input.read(at, data);
    } catch (error) {
      throw new ToolError(`error while reading from input image file: ${errorMessage(error)}`, 1, { cause: error });
    }
    try {
      await output.write(out, data);
    } catch (error) {
      throw new ToolError(`error while writing to output image file: ${errorMessage(error)}`, 1, { cause: error });
    }
    at += data.length;
    out += data.length;
  }
}
