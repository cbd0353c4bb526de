import type { BlockOptionSpec } from '@tessera/core';

/**
 * `qemu-img create -f vmdk -o` options, with qemu-img's names and help text, in the order its
 * "Formatting …" line lists them; `printDefault` where that line shows the default unasked.
 */
export const VMDK_CREATE_OPTIONS: readonly BlockOptionSpec[] = [
  { name: 'size', type: 'size', description: 'Virtual disk size' },
  { name: 'adapter_type', type: 'str', description: 'Virtual adapter type, can be one of ide (default), lsilogic, buslogic or legacyESX', default: 'ide' },
  { name: 'backing_file', type: 'str', description: 'File name of a base image' },
  { name: 'backing_fmt', type: 'str', description: "Must be 'vmdk' if present" },
  { name: 'compat6', type: 'bool', description: 'VMDK version 6 image', default: false, printDefault: true },
  { name: 'hwversion', type: 'str', description: 'VMDK hardware version', default: 'undefined', printDefault: true },
  { name: 'toolsversion', type: 'str', description: 'VMware guest tools version', default: '2147483647' },
  {
    name: 'subformat',
    type: 'str',
    description: 'VMDK flat extent format, can be one of {monolithicSparse (default) | monolithicFlat | twoGbMaxExtentSparse | twoGbMaxExtentFlat | streamOptimized} ',
    default: 'monolithicSparse',
  },
  { name: 'zeroed_grain', type: 'bool', description: 'Enable efficient zero writes using the zeroed-grain GTE feature', default: false },
];
