import { ToolError, UsageError } from '../cli/errors.ts';
import { parseOutputFormat } from '../cli/values.ts';
import { walkMap, type MapEntry } from '../image/map-entries.ts';
import { openImage } from '../image/open.ts';
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, boundedSize, formatConflict, parseImageCommandOptions } from './common.ts';
import type { Command } from './types.ts';

const hex = (n: number) => (n === 0 ? '0' : `0x${n.toString(16)}`);

/** `map`: where each run of the image's bytes lives (which file and offset, or zeroes), as qemu-img prints it. */
export const mapCommand: Command = {
  name: 'map',
  synopsis: 'map [--object objectdef] [--image-opts] [-f fmt] [--start-offset=offset] [--max-length=len] [--output=ofmt] [-U] filename',
  options: {
    short: ':f:hU',
    long: [
      HELP,
      { name: 'format', hasArg: true, key: 'f' },
      { name: 'output', hasArg: true },
      { name: 'start-offset', hasArg: true },
      { name: 'max-length', hasArg: true },
      OBJECT,
      IMAGE_OPTS,
      FORCE_SHARE,
    ],
  },

  async run(context, args) {
    let startOffset = 0;
    let maxLength = Number.MAX_SAFE_INTEGER;
    const { help, format, imageOpts, output, forceShare } = parseImageCommandOptions(args, (option) => {
      if (option.key === 'start-offset') startOffset = offsetValue(option.value!, 'start offset');
      else if (option.key === 'max-length') maxLength = offsetValue(option.value!, 'max length');
    });
    if (help) return context.help();
    if (args.operands.length !== 1) throw new UsageError('Expecting one image file name');
    const outputFormat = parseOutputFormat(output);
    if (imageOpts && format !== undefined) throw formatConflict();

    const image = await openImage(context.host, { filename: args.operands[0]!, format, imageOpts }, { readOnly: true, forceShare });
    const out: string[] = [];
    try {
      const end = Math.min(image.size, startOffset + maxLength);
      if (outputFormat === 'human') out.push(`${'Offset'.padEnd(16)}${'Length'.padEnd(16)}${'Mapped to'.padEnd(16)}File\n`);
      else out.push('[');
      await walkMap(image, startOffset, end, (entry, next) => {
        out.push(outputFormat === 'human' ? humanRow(entry, next) : jsonRow(entry, next));
      });
      if (outputFormat === 'json') out.push(']\n');
    } finally {
      // Rows already made are printed even when a later one fails, as qemu-img prints as it goes.
      context.console.out(out.join(''));
      await image.close();
    }
    return 0;
  },
};

/** An offset or length as qemu-img's cvtnum reads it (with its messages). */
function offsetValue(text: string, what: string): number {
  return Number(boundedSize(what, text, 0n, (1n << 63n) - 1n));
}

function humanRow(entry: MapEntry, next: MapEntry | undefined): string {
  if (entry.data && entry.offset === undefined) {
    throw new ToolError('File contains external, encrypted or compressed clusters.');
  }
  const row = entry.data && !entry.zero ? `${hex(entry.start).padEnd(16)}${hex(entry.length).padEnd(16)}${hex(entry.offset ?? 0).padEnd(16)}${entry.file}\n` : '';
  // Human output does not tell zeroes from holes: let such neighbours merge.
  if (next && (!next.data || next.zero) && (!entry.data || entry.zero)) {
    next.data = false;
    next.zero = true;
  }
  return row;
}

function jsonRow(entry: MapEntry, next: MapEntry | undefined): string {
  const offset = entry.offset !== undefined ? `, "offset": ${entry.offset}` : '';
  return (
    `{ "start": ${entry.start}, "length": ${entry.length}, "depth": ${entry.depth}, "present": ${entry.present}, ` +
    `"zero": ${entry.zero}, "data": ${entry.data}${offset}}${next ? ',\n' : ''}`
  );
}
