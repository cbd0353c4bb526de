/** The one place `-o` values of `create -f vmdk` are parsed and checked (qemu-img's messages). */
import { invalidOption, unsupportedOperation } from './errors.ts';

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
}

export function parseCreateOptions(options: Readonly<Record<string, string>>, location: string): VmdkCreateSettings {
  const fail = (message: string) => {
    throw invalidOption(`${location}: ${message}`);
  };
  // qemu's vmdk copies the parent's CID into the child, which needs the parent opened while
  // creating: the contract gives create no way to open another image yet.
  if (options.backing_file !== undefined) {
    throw unsupportedOperation(`${location}: creating a vmdk image with a backing file is not supported here yet; create it with qemu-img (it reads here)`);
  }
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
  };
}

function flag(value: string | undefined, name: string): boolean {
  if (value === undefined) return false;
  if (value === 'on' || value === 'yes' || value === 'true') return true;
  if (value === 'off' || value === 'no' || value === 'false') return false;
  throw invalidOption(`Parameter '${name}' expects 'on' or 'off'`);
}
