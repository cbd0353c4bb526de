import type { LongOption } from '../cli/getopt.ts';
import { ToolError } from '../cli/errors.ts';

/** Long options several commands share. */
export const HELP: LongOption = { name: 'help', hasArg: false, key: 'h' };
export const OBJECT: LongOption = { name: 'object', hasArg: true };
export const IMAGE_OPTS: LongOption = { name: 'image-opts', hasArg: false };
export const FORCE_SHARE: LongOption = { name: 'force-share', hasArg: false, key: 'U' };

/** `--object` defines QEMU objects (secrets, TLS credentials); the tool has none to define. */
export function objectsUnsupported(exitCode = 1): ToolError {
  return new ToolError('--object is not supported', exitCode);
}

export function formatConflict(exitCode = 1): ToolError {
  return new ToolError('--image-opts and --format are mutually exclusive', exitCode);
}
