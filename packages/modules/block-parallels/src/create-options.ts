import type { BlockOptionSpec } from '@tessera/core';
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
  return { clusterSize: byteCount(options.cluster_size ?? String(DEFAULT_CLUSTER)) };
}

/**
 * A size option as core hands it over (checked, in decimal bytes); one too large for exact
 * arithmetic here is out of every range the format allows, so it is returned as Infinity.
 */
function byteCount(text: string): number {
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : Infinity;
}
