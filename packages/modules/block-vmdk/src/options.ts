/** The one place `-o` values of `create -f vmdk` are parsed and checked (qemu-img's messages). */
import { invalidOption } from './errors.ts';

export const SUBFORMATS = ['monolithicSparse', 'monolithicFlat', 'twoGbMaxExtentSparse', 'twoGbMaxExtentFlat', 'streamOptimized'] as const;
export type Subformat = (typeof SUBFORMATS)[number];
const ADAPTERS = ['ide', 'lsilogic', 'buslogic', 'legacyESX'];

export interface VmdkCreateSettings {
  readonly subformat: Subformat;
  readonly adapterType: string;
  /** ddb.virtualHWVersion: hwversion, else 6 with compat6, else 4. */
  readonly hwVersion: string;
  readonly toolsVersion: string;
  readonly zeroedGrain: boolean;
  /** The parent image (`-b`), named as the user named it; its CID is copied into the child. */
  readonly backingFile?: string;
  readonly backingFormat?: string;
}

export function parseCreateOptions(options: Readonly<Record<string, string>>): VmdkCreateSettings {
  // The tool names the image before the message, as qemu-img does.
  const fail = (message: string) => {
    throw invalidOption(message);
  };
  const subformat = options.subformat ?? 'monolithicSparse';
  if (!(SUBFORMATS as readonly string[]).includes(subformat)) fail(`invalid parameter value: ${subformat}`);
  const adapterType = options.adapter_type ?? 'ide';
  if (!ADAPTERS.includes(adapterType)) fail(`invalid parameter value: ${adapterType}`);
  const compat6 = flag(options.compat6, 'compat6');
  const hwversion = options.hwversion;
  if (compat6 && hwversion !== undefined && hwversion !== 'undefined') fail('compat6 cannot be enabled with hwversion set');
  return {
    subformat: subformat as Subformat,
    adapterType,
    hwVersion: hwversion !== undefined && hwversion !== 'undefined' ? hwversion : compat6 ? '6' : '4',
    toolsVersion: options.toolsversion ?? '2147483647',
    zeroedGrain: flag(options.zeroed_grain, 'zeroed_grain'),
    ...(options.backing_file !== undefined ? { backingFile: options.backing_file } : {}),
    ...(options.backing_fmt !== undefined ? { backingFormat: options.backing_fmt } : {}),
  };
}

function flag(value: string | undefined, name: string): boolean {
  if (value === undefined) return false;
  if (value === 'on' || value === 'yes' || value === 'true') return true;
  if (value === 'off' || value === 'no' || value === 'false') return false;
  throw invalidOption(`Parameter '${name}' expects 'on' or 'off'`);
}
