import { BlockError, type Host } from '@tessera/core';
import { ToolError } from '../cli/errors.ts';

/** One `-o` option of image creation, as `-o help` lists it. */
export interface CreateOptionInfo {
  readonly name: string;
  /** Value kind, as help shows it; `size` values are parsed and printed as byte counts. */
  readonly type: 'size' | 'str' | 'bool (on/off)';
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
