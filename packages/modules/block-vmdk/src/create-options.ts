/** `qemu-img create -f vmdk -o` options this driver takes, with qemu-img's names, help text and defaults. */
export interface CreateOptionSpec {
  readonly name: string;
  readonly type: 'size' | 'str' | 'num' | 'bool';
  readonly description: string;
  readonly default?: string;
}

export const VMDK_CREATE_OPTIONS: readonly CreateOptionSpec[] = [
  { name: 'adapter_type', type: 'str', description: 'Virtual adapter type, can be one of ide (default), lsilogic, buslogic or legacyESX', default: 'ide' },
  { name: 'compat6', type: 'bool', description: 'VMDK version 6 image', default: 'off' },
  { name: 'hwversion', type: 'str', description: 'VMDK hardware version', default: 'undefined' },
  {
    name: 'subformat',
    type: 'str',
    description: 'VMDK flat extent format, can be one of {monolithicSparse (default) | monolithicFlat | twoGbMaxExtentSparse | twoGbMaxExtentFlat | streamOptimized} ',
    default: 'monolithicSparse',
  },
  { name: 'toolsversion', type: 'str', description: 'VMware guest tools version', default: '2147483647' },
  { name: 'zeroed_grain', type: 'bool', description: 'Enable efficient zero writes using the zeroed-grain GTE feature', default: 'off' },
];

export const VMDK_CREATE_OPTION_NAMES: readonly string[] = VMDK_CREATE_OPTIONS.map((option) => option.name);
