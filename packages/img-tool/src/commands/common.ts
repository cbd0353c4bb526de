import type { LongOption, ParsedArgs, ParsedOption } from '../cli/getopt.ts';
import { ToolError } from '../cli/errors.ts';
import { parseSize } from '../image/size.ts';
import { defineObject } from '../cli/objects/index.ts';

/** Long options several commands share. */
export const HELP: LongOption = { name: 'help', hasArg: false, key: 'h' };
export const OBJECT: LongOption = { name: 'object', hasArg: true };
export const IMAGE_OPTS: LongOption = { name: 'image-opts', hasArg: false };
export const FORCE_SHARE: LongOption = { name: 'force-share', hasArg: false, key: 'U' };

export function formatConflict(exitCode = 1): ToolError {
  return new ToolError('--image-opts and --format are mutually exclusive', exitCode);
}

/** What the options every image command understands alike came to. */
export interface ImageCommandOptions {
  /** `-h`/`--help` was given: the command shows the help and stops there. */
  readonly help: boolean;
  /** `-f`. */
  readonly format: string | undefined;
  readonly imageOpts: boolean;
  /** `--output`, unchecked (parseOutputFormat checks it). */
  readonly output: string | undefined;
  /** `-U`: accepted; the tool takes no image locks to share. */
  readonly forceShare: boolean;
}

/**
 * Go through a command's options in command-line order: help, `--object`, `--image-opts`, `-f`,
 * `-U` and `--output` are handled here (help stops at once, as qemu-img's getopt loop does), every
 * other option is handed to `own`. `objectExitCode`: the exit code for a refused `--object` (compare: 2).
 */
export function parseImageCommandOptions(args: ParsedArgs, own: (option: ParsedOption) => void, objectExitCode = 1): ImageCommandOptions {
  let format: string | undefined;
  let output: string | undefined;
  let imageOpts = false;
  let forceShare = false;
  for (const option of args.options) {
    switch (option.key) {
      case 'h':
        return { help: true, format, imageOpts, output, forceShare };
      case 'object':
        defineObject(option.value!, objectExitCode);
        break;
      case 'image-opts':
        imageOpts = true;
        break;
      case 'f':
        format = option.value;
        break;
      case 'U':
        forceShare = true;
        break;
      case 'output':
        output = option.value;
        break;
      default:
        own(option);
    }
  }
  return { help: false, format, imageOpts, output, forceShare };
}

/** A size-like option value with suffixes (qemu's cvtnum_full) in `[min, max]`, with qemu-img's messages. */
export function boundedSize(name: string, text: string, min: bigint, max: bigint): bigint {
  const parsed = parseSize(text);
  if (!parsed.ok && parsed.reason === 'invalid') {
    throw new ToolError([`Invalid ${name} specified. You may use k, M, G, T, P or E suffixes for`, 'kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.']);
  }
  if (!parsed.ok || parsed.value < min || parsed.value > max) throw new ToolError(`Invalid ${name} specified. Must be between ${min} and ${max}.`);
  return parsed.value;
}
