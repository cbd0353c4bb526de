// Feature bits of the qcow2 v3 header (QEMU's docs/interop/qcow2.rst).
export const INCOMPAT_DIRTY = 1n << 0n;
export const INCOMPAT_CORRUPT = 1n << 1n;
export const INCOMPAT_DATA_FILE = 1n << 2n;
export const INCOMPAT_COMPRESSION = 1n << 3n;
export const INCOMPAT_EXTL2 = 1n << 4n;
export const KNOWN_INCOMPAT = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;

export const COMPAT_LAZY_REFCOUNTS = 1n << 0n;

export const AUTOCLEAR_BITMAPS = 1n << 0n;
export const AUTOCLEAR_DATA_FILE_RAW = 1n << 1n;

/** One entry of the feature name table extension. */
export interface FeatureName {
  readonly type: 'incompatible' | 'compatible' | 'autoclear';
  readonly bit: number;
  readonly name: string;
}

/** The names of the unknown incompatible features set in `bits`, as QEMU reports them. */
export function unknownIncompatible(bits: bigint, names: readonly FeatureName[]): string[] {
  const unknown: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    const mask = 1n << BigInt(bit);
    if (!(bits & mask) || KNOWN_INCOMPAT & mask) continue;
    const named = names.find((n) => n.type === 'incompatible' && n.bit === bit);
    unknown.push(named ? named.name : `Unknown incompatible feature: ${mask.toString(16)}`);
  }
  return unknown;
}
