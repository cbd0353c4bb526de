import { BlockError, type Host } from '@tessera/core';
import { ToolError } from '../cli/errors.ts';

/** One `-o` option of image creation, as `-o help` lists it. */
export interface CreateOptionInfo {
  readonly name: string;
  /** Value kind, as help shows it; `size` values are parsed and printed as byte counts. */
  readonly type: 'size' | 'str' | 'num' | 'bool (on/off)';
  readonly description?: string;
}

/** What the commands need to know about an output format beyond its driver. */
export interface FormatTraits {
  readonly name: string;
  readonly backingFile: boolean;
  readonly compression: boolean;
  readonly internalSnapshots: boolean;
  readonly bitmaps: boolean;
  /** `-o` options of `create` (always including `size`). */
  readonly createOptions: readonly CreateOptionInfo[];
  /**
   * The `key=value` list of the "Formatting …" line after `fmt=`, when the format prints more
   * than `size=` and the given options (qemu-img prints the defaults of qcow2's options too).
   */
  readonly summary?: (size: bigint, options: Readonly<Record<string, string>>) => string[];
}

const SIZE_OPTION: CreateOptionInfo = { name: 'size', type: 'size', description: 'Virtual disk size' };

/** Formats whose traits the tool knows; others are described from their driver. */
const KNOWN: Readonly<Record<string, FormatTraits>> = {
  raw: {
    name: 'raw',
    backingFile: false,
    compression: false,
    internalSnapshots: false,
    bitmaps: false,
    createOptions: [SIZE_OPTION],
  },
  qcow2: {
    name: 'qcow2',
    backingFile: true,
    compression: true,
    internalSnapshots: true,
    bitmaps: false,
    createOptions: [
      SIZE_OPTION,
      { name: 'compat', type: 'str', description: 'Compatibility level (v2 [0.10] or v3 [1.1])' },
      { name: 'backing_file', type: 'str', description: 'File name of a base image' },
      { name: 'backing_fmt', type: 'str', description: 'Image format of the base image' },
      { name: 'cluster_size', type: 'size', description: 'qcow2 cluster size' },
      { name: 'lazy_refcounts', type: 'bool (on/off)', description: 'Postpone refcount updates' },
      { name: 'preallocation', type: 'str', description: 'Preallocation mode (allowed values: off, metadata, falloc, full)' },
      { name: 'refcount_bits', type: 'num', description: 'Width of a reference count entry in bits' },
      { name: 'compression_type', type: 'str', description: 'Compression method used for image cluster compression' },
      { name: 'extended_l2', type: 'bool (on/off)', description: 'Extended L2 tables' },
      { name: 'data_file', type: 'str', description: 'File name of an external data file' },
      { name: 'data_file_raw', type: 'bool (on/off)', description: 'The external data file must stay valid as a raw image' },
    ],
    summary: (size, options) => [
      `cluster_size=${options.cluster_size ?? 65536}`,
      `extended_l2=${options.extended_l2 ?? 'off'}`,
      ...(options.preallocation !== undefined ? [`preallocation=${options.preallocation}`] : []),
      `compression_type=${options.compression_type ?? 'zlib'}`,
      `size=${size}`,
      ...['compat', 'backing_file', 'backing_fmt', 'data_file', 'data_file_raw'].filter((name) => options[name] !== undefined).map((name) => `${name}=${options[name]}`),
      `lazy_refcounts=${options.lazy_refcounts ?? 'off'}`,
      `refcount_bits=${options.refcount_bits ?? 16}`,
    ],
  },
};

/** The traits of an output format; "Unknown file format" when no module provides it. */
export async function formatTraits(host: Host, name: string): Promise<FormatTraits> {
  let driverOptions: readonly string[];
  try {
    driverOptions = (await host.block.formatDriver(name)).createOptions ?? [];
  } catch (error) {
    if (error instanceof BlockError) throw new ToolError(`Unknown file format '${name}'`, 1, { cause: error });
    throw error;
  }
  const known = KNOWN[name];
  if (known) return known;
  return {
    name,
    backingFile: driverOptions.includes('backing_file'),
    compression: false,
    internalSnapshots: false,
    bitmaps: false,
    createOptions: [
      SIZE_OPTION,
      ...driverOptions.filter((option) => option !== 'size').map((option): CreateOptionInfo => ({ name: option, type: 'str' })),
    ],
  };
}
