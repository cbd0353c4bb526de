import type { BlockOptionSpec } from '@tessera/core';

/**
 * `qemu-img create -f vhdx` options: qemu-img 7.2's names, help text and defaults, in its
 * "Formatting …" line's order; that line shows log_size and block_size unasked.
 */
export const CREATE_OPTIONS: readonly BlockOptionSpec[] = [
  { name: 'size', type: 'size', description: 'Virtual disk size; max of 64TB.' },
  { name: 'log_size', type: 'size', description: 'Log size; min 1MB.', default: 1048576, printDefault: true },
  { name: 'block_size', type: 'size', description: 'Block Size; min 1MB, max 256MB. 0 means auto-calculate based on image size.', default: 0, printDefault: true },
  { name: 'subformat', type: 'str', description: "VHDX format type, can be either 'dynamic' or 'fixed'. Default is 'dynamic'.", default: 'dynamic' },
  {
    name: 'block_state_zero',
    type: 'bool',
    description: "Force use of payload blocks of type 'ZERO'. Non-standard, but default.  Do not set to 'off' when using 'tessera-img convert' with subformat=dynamic.",
    default: true,
  },
];
