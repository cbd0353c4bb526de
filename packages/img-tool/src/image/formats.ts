import { BlockError, withSizeOption, type BlockFormatCapabilities, type BlockFormatDriver, type BlockOptionSpec, type Host } from '@tessera/core';
import { ToolError } from '../cli/errors.ts';

/** An output format as the commands see it: all of it declared by its driver. */
export interface FormatTraits {
  readonly name: string;
  readonly driver: BlockFormatDriver;
  readonly capabilities: BlockFormatCapabilities;
  /** `-o` options of `create` (always including `size`), in the "Formatting …" line's order. */
  readonly createOptions: readonly BlockOptionSpec[];
  /** The format makes images: its driver lays out metadata, or its guest bytes are the storage's (raw). */
  readonly creatable: boolean;
}

/** The traits of an output format; "Unknown file format" when no module provides it. */
export async function formatTraits(host: Host, name: string): Promise<FormatTraits> {
  let driver: BlockFormatDriver;
  try {
    driver = await host.block.formatDriver(name);
  } catch (error) {
    if (error instanceof BlockError) throw new ToolError(`Unknown file format '${name}'`, 1, { cause: error });
    throw error;
  }
  const capabilities = driver.capabilities ?? {};
  return {
    name,
    driver,
    capabilities,
    createOptions: withSizeOption(driver.createOptions ?? []),
    creatable: driver.create !== undefined || (capabilities.directMapping ?? false),
  };
}
