import type { BlockOptionSpec } from '@tessera/core';
import { codedError } from './errors.ts';

/** vpc's open option, as qemu names it: which of the footer's two sizes is the disk's. */
export const OPEN_OPTIONS: readonly BlockOptionSpec[] = [
  { name: 'force_size_calc', type: 'str', description: 'Force disk size calculation to use either CHS geometry, or use the disk current_size specified in the VHD footer. {chs, current_size}', strong: true },
];

/** `chs`, `current_size`, or undefined: decided by the creator application, as by default. */
export type SizeCalculation = 'chs' | 'current_size' | undefined;

export function sizeCalculation(options: Readonly<Record<string, string>>): SizeCalculation {
  const value = options.force_size_calc;
  if (value === undefined || value === 'chs' || value === 'current_size') return value;
  throw codedError(`Invalid size calculation mode: '${value}'`, 'invalid-option');
}
