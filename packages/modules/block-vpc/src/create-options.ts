import type { BlockOptionSpec } from '@tessera/core';

/** `qemu-img create -f vpc` options: qemu-img 7.2's names, help text and defaults, in its "Formatting …" line's order (no default printed there). */
export const CREATE_OPTIONS: readonly BlockOptionSpec[] = [
  { name: 'size', type: 'size', description: 'Virtual disk size' },
  {
    name: 'subformat',
    type: 'str',
    description: 'Type of virtual hard disk format. Supported formats are {dynamic (default) | fixed} ',
    default: 'dynamic',
  },
  {
    name: 'force_size',
    type: 'bool',
    description: 'Force disk size calculation to use the actual size specified, rather than using the nearest CHS-based calculation',
    default: false,
  },
];
