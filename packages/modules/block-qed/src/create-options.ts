import type { BlockOptionSpec } from '@tessera/core';
import { codedError } from '@tessera/module-kit/coded-error';
import { DEFAULT_CLUSTER, DEFAULT_TABLE, MAX_CLUSTER, MAX_TABLE, MIN_CLUSTER, MIN_TABLE, validClusterSize, validTableSize } from './layout.ts';

/**
 * `qemu-img create -f qed -o help`, with qemu-img's names and help
 * text; `default` is qemu's default value string, the one qemu-img lists in its "Formatting …"
 * line when the option is not given.
 */
export const createOptionTable: readonly BlockOptionSpec[] = [
  { name: 'backing_file', type: 'str', description: 'File name of a base image' },
  { name: 'backing_fmt', type: 'str', description: 'Image format of the base image' },
  { name: 'cluster_size', type: 'size', description: 'Cluster size (in bytes)', default: DEFAULT_CLUSTER, printDefault: true },
  // qemu picks 4 in code, with no default string, so its "Formatting" line does not list table_size.
  { name: 'table_size', type: 'size', description: 'L1/L2 table size (in clusters)', default: DEFAULT_TABLE },
];

export interface QedCreateOptions {
  readonly backingFile?: string;
  readonly backingFormat?: string;
  readonly clusterSize: number;
  readonly tableSize: number;
}

/** The one place option values are read; messages as qemu-img's. */
export function parseCreateOptions(options: Readonly<Record<string, string>>): QedCreateOptions {
  const clusterSize = byteCount(options.cluster_size ?? String(DEFAULT_CLUSTER));
  const tableSize = byteCount(options.table_size ?? String(DEFAULT_TABLE));
  if (!validClusterSize(clusterSize)) {
    throw codedError(`QED cluster size must be within range [${MIN_CLUSTER}, ${MAX_CLUSTER}] and power of 2`, 'invalid-option');
  }
  if (!validTableSize(tableSize)) throw codedError(`QED table size must be within range [${MIN_TABLE}, ${MAX_TABLE}] and power of 2`, 'invalid-option');
  const backingFile = options.backing_file || undefined;
  return { clusterSize, tableSize, ...(backingFile ? { backingFile } : {}), ...(options.backing_fmt ? { backingFormat: options.backing_fmt } : {}) };
}

/**
 * A size option as core hands it over (checked, in decimal bytes); one too large for exact
 * arithmetic here is out of every range the format allows, so it is returned as Infinity.
 */
function byteCount(text: string): number {
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : Infinity;
}
