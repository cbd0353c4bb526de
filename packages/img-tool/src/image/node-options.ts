/**
 * Open options qemu takes on every node whatever its driver (its bdrv_runtime_opts:
 * `node-name`, `read-only`, `cache.direct`, …) and the `backing` child's options, taken out of
 * the format's own options before those are checked against the driver's schema.
 */
import type { BackingOverride } from '@tessera/core';
import { parseImageOpts } from './image-opts.ts';
import type { ImageSpec } from './spec.ts';

/** qemu's generic node options. Only read-only and force-share change anything here: the others tune qemu's I/O paths. */
const GENERIC: Readonly<Record<string, 'bool' | 'str'>> = {
  'node-name': 'str',
  'read-only': 'bool',
  'auto-read-only': 'bool',
  'force-share': 'bool',
  discard: 'str',
  'detect-zeroes': 'str',
  'cache.direct': 'bool',
  'cache.no-flush': 'bool',
};

const ON = ['on', 'yes', 'true'];
const BOOLEANS = [...ON, 'off', 'no', 'false'];

export interface NodeOptions {
  /** The format's own options, for its driver's schema. */
  readonly formatOptions: Record<string, string>;
  readonly readOnly: boolean;
  readonly forceShare: boolean;
  /** Undefined: the backing file the image names; null: none; else this image instead. */
  readonly backing: BackingOverride | null | undefined;
}

/**
 * Split `spec`'s format options. `keepBacking`: the image is opened without its backing file
 * (`info`), so `backing.*` options stay among the format's and are refused by name, as
 * qemu-img info refuses them; `backing` null (or empty) is accepted all the same.
 */
export function splitNodeOptions(spec: ImageSpec, keepBacking: boolean): NodeOptions {
  const formatOptions: Record<string, string> = {};
  const backingEntries: string[] = [];
  let backing: BackingOverride | null | undefined;
  let readOnly = false;
  let forceShare = false;
  for (const [key, value] of Object.entries(spec.formatOptions)) {
    const kind = GENERIC[key];
    if (kind === 'bool' && !BOOLEANS.includes(value)) throw new Error(`Parameter '${key}' expects 'on' or 'off'`);
    if (kind !== undefined) {
      if (key === 'read-only') readOnly = ON.includes(value);
      if (key === 'force-share') forceShare = ON.includes(value);
    } else if (key === 'backing') {
      if (value !== '') throw new Error(`Cannot find device='${value}' nor node-name='${value}'`);
      backing = null;
    } else if (key.startsWith('backing.') && !keepBacking) {
      backingEntries.push(`${key.slice('backing.'.length)}=${value.replaceAll(',', ',,')}`);
    } else {
      formatOptions[key] = value;
    }
  }
  if (backingEntries.length > 0) {
    if (backing === null) throw new Error("Cannot reference an existing block device with additional options or a new filename");
    backing = backingOverride(parseImageOpts(backingEntries.join(',')));
  }
  return { formatOptions, readOnly, forceShare, backing };
}

/** The backing image as its own options describe it (itself possibly with a backing override). */
function backingOverride(spec: ImageSpec): BackingOverride {
  if (spec.location === undefined) throw new Error('A block device must be specified for "file"');
  const own = splitNodeOptions(spec, false);
  return {
    location: spec.location,
    ...(spec.format !== undefined ? { format: spec.format } : {}),
    ...(spec.protocol !== undefined ? { protocol: spec.protocol } : {}),
    fileOptions: spec.fileOptions,
    formatOptions: own.formatOptions,
    ...(own.backing !== undefined ? { backing: own.backing } : {}),
  };
}
