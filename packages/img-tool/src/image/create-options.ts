import { formattingSummary, optionHelpLines, parseBlockOptions, type BlockOptionSpec, type Host } from '@tessera/core';
import type { FormatTraits } from './formats.ts';
import type { KeyValue } from './key-value.ts';

/** `-o` options of image creation, checked (by core, against the drivers' schemas) and split by who applies them. */
export interface CreateOptions {
  readonly size?: bigint;
  /** The format driver's options (size-typed values as byte counts). */
  readonly formatOptions: Readonly<Record<string, string>>;
  /** Protocol options the tool applies itself (`preallocation`) or accepts as hints. */
  readonly fileOptions: Readonly<Record<string, string>>;
  /** Every option creating the image takes: the format's, then the protocol's it leaves to it. */
  readonly schema: readonly BlockOptionSpec[];
}

/**
 * The `-o` options creating `location` (when known) in this format takes: the format's, then
 * those of the target's protocol that the format does not take itself, as qemu-img merges them.
 */
export async function creationOptions(host: Host, traits: FormatTraits, location: string | undefined): Promise<BlockOptionSpec[]> {
  const options = [...traits.createOptions];
  if (location === undefined) return options;
  const protocol = await host.block.protocolCreateOptions(location);
  return [...options, ...protocol.filter((file) => !options.some((option) => option.name === file.name))];
}

/** Check `-o` entries against the format and the target's protocol; messages as qemu-img words them. Later entries win. */
export async function parseCreateOptions(host: Host, entries: readonly KeyValue[], traits: FormatTraits, location: string): Promise<CreateOptions> {
  const schema = await creationOptions(host, traits, location);
  const values = parseBlockOptions(entries, schema);
  const formatNames = new Set(traits.createOptions.map((option) => option.name));
  const formatOptions: Record<string, string> = {};
  const fileOptions: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (key !== 'size') (formatNames.has(key) ? formatOptions : fileOptions)[key] = value;
  }
  return { ...(values.size !== undefined ? { size: BigInt(values.size) } : {}), formatOptions, fileOptions, schema };
}

/** create's "Formatting …" line: the options in schema order, qemu-img's printed defaults included. */
export function formattingLine(filename: string, format: string, schema: readonly BlockOptionSpec[], size: bigint, values: Readonly<Record<string, string>>): string {
  return `Formatting '${filename}', fmt=${format} ${formattingSummary(schema, { ...values, size: String(size) }).join(' ')}\n`;
}

/**
 * `-o help`: the creation options, sorted. Without a target filename qemu-img adds that the
 * protocol may take more; with one it lists the protocol's too.
 */
export async function createOptionsHelp(host: Host, traits: FormatTraits, filename: string | undefined): Promise<string> {
  const options = await creationOptions(host, traits, filename);
  const lines = [filename === undefined ? `Supported ${traits.name} options:` : 'Supported options:', ...optionHelpLines(options)];
  if (filename === undefined) {
    lines.push('', 'The protocol level may support further options.', 'Specify the target filename to include those options.');
  }
  return `${lines.join('\n')}\n`;
}
