import type { BlockOptionSpec } from '@tessera/core';
import { codedError } from './errors.ts';
import { DEFAULT_CLUSTER } from './layout.ts';

/**
 * `qemu-img create -f parallels -o help`, with qemu-img's names and help text; `default` is qemu's default value
 * string, the one qemu-img lists in its "Formatting …" line when the option is not given
 * (`preallocation` is the file protocol's option, applied by the tool as for every format).
 */
export const createOptionTable: readonly BlockOptionSpec[] = [
  { name: 'cluster_size', type: 'size', description: 'Parallels image cluster size', default: DEFAULT_CLUSTER, printDefault: true },
];

export interface ParallelsCreateOptions {
  readonly clusterSize: number;
}

/** The one place option values are read. */
export function parseCreateOptions(options: Readonly<Record<string, string>>): ParallelsCreateOptions {
  for (const key of Object.keys(options)) {
    if (!createOptionTable.some((option) => option.name === key)) throw codedError(`Invalid parameter '${key}'`, 'invalid-option');
  }
  return { clusterSize: parseSize('cluster_size', options.cluster_size ?? String(DEFAULT_CLUSTER)) };
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** qemu's size syntax (a byte count, or with a k/M/G/T suffix). */
function parseSize(name: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)([bkmgt]?)$/i.exec(text.trim());
  const value = match ? Number(match[1]) * UNITS[match[2]!.toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(value)) {
    throw codedError(`Parameter '${name}' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.`, 'invalid-option');
  }
  return value;
}
