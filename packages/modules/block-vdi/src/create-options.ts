import type { BlockOptionSpec } from '@tessera/core';
import { codedError } from '@tessera/module-kit/coded-error';

/**
 * `qemu-img create -f vdi -o help`, with qemu-img's names and help
 * text; `default` is qemu's default value string, the one qemu-img lists in its "Formatting …"
 * line when the option is not given.
 */
export const createOptionTable: readonly BlockOptionSpec[] = [
  { name: 'static', type: 'bool', description: 'VDI static (pre-allocated) image', default: false, printDefault: true },
];

export interface VdiCreateOptions {
  readonly static: boolean;
}

/** The one place option values are read. */
export function parseCreateOptions(options: Readonly<Record<string, string>>): VdiCreateOptions {
  return { static: parseBool('static', options.static ?? 'off') };
}

function parseBool(name: string, value: string): boolean {
  if (['on', 'yes', 'true'].includes(value)) return true;
  if (['off', 'no', 'false'].includes(value)) return false;
  throw codedError(`Parameter '${name}' expects 'on' or 'off'`, 'invalid-option');
}
