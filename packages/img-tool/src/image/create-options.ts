import { protocolOf } from '@tessera/core';
import type { CreateOptionInfo, FormatTraits } from './formats.ts';
import type { KeyValue } from './key-value.ts';
import { MAX_SIZE, parseSize } from './size.ts';

/** `-o` options of image creation, checked and split by who applies them. */
export interface CreateOptions {
  readonly size?: bigint;
  /** The format driver's options (size-typed values as byte counts). */
  readonly formatOptions: Readonly<Record<string, string>>;
  /** File-protocol options the tool applies itself (`preallocation`) or accepts as hints. */
  readonly fileOptions: Readonly<Record<string, string>>;
  /** `key=value` for the "Formatting …" line, in the order qemu-img prints them (size apart). */
  readonly summary: readonly string[];
}

/**
 * Creation options of the file protocol, for formats that leave them to it (raw), in
 * qemu-img's order. `nocow` (btrfs) and `extent_size_hint` (XFS) are accepted as hints only.
 */
const FILE_OPTIONS: readonly CreateOptionInfo[] = [
  { name: 'nocow', type: 'bool (on/off)', description: 'Turn off copy-on-write (valid only on btrfs)' },
  { name: 'preallocation', type: 'str', description: 'Preallocation mode (allowed values: off, falloc, full)' },
  { name: 'extent_size_hint', type: 'size', description: 'Extent size hint for the image file, 0 to disable' },
];

const BOOLEANS = ['on', 'off', 'yes', 'no', 'true', 'false'];

/** The `-o` options creating `location` (when known) in this format takes, in declaration order. */
export function creationOptions(traits: FormatTraits, location: string | undefined): CreateOptionInfo[] {
  const options = [...traits.createOptions];
  if (location !== undefined && protocolOf(location) === 'file') {
    options.push(...FILE_OPTIONS.filter((file) => !options.some((option) => option.name === file.name)));
  }
  return options;
}

/** Check `-o` entries against the format; messages as qemu-img words them. Later entries win. */
export function parseCreateOptions(entries: readonly KeyValue[], traits: FormatTraits, location: string): CreateOptions {
  const options = creationOptions(traits, location);
  const given = new Map<string, string>();
  for (const { key, value } of entries) {
    const option = options.find((candidate) => candidate.name === key);
    if (!option) throw new Error(`Invalid parameter '${key}'`);
    given.set(key, checkValue(option, value));
  }
  const formatNames = new Set(traits.createOptions.map((option) => option.name));
  let size: bigint | undefined;
  const formatOptions: Record<string, string> = {};
  const fileOptions: Record<string, string> = {};
  const summary: string[] = [];
  for (const option of options) {
    const value = given.get(option.name);
    if (value === undefined) continue;
    if (option.name === 'size') {
      size = BigInt(value);
      continue;
    }
    (formatNames.has(option.name) ? formatOptions : fileOptions)[option.name] = value;
    summary.push(`${option.name}=${value}`);
  }
  return { size, formatOptions, fileOptions, summary };
}

/** The value as the driver gets it: sizes as byte counts. */
function checkValue(option: CreateOptionInfo, text: string): string {
  if (option.type === 'size') return String(parseSizeValue(option.name, text));
  if (option.type.startsWith('bool') && !BOOLEANS.includes(text)) {
    throw new Error(`Parameter '${option.name}' expects 'on' or 'off'`);
  }
  return text;
}

function parseSizeValue(name: string, text: string): bigint {
  const parsed = parseSize(text);
  if (parsed.ok && parsed.value <= MAX_SIZE) return parsed.value;
  if (!parsed.ok && parsed.reason === 'invalid') {
    throw new Error(
      `Parameter '${name}' expects a non-negative number below 2^64\n` +
        'Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n' +
        'and exabytes, respectively.',
    );
  }
  throw new Error(`Value '${text}' is out of range for parameter '${name}'`);
}

/**
 * `-o help`: the creation options, sorted. Without a target filename qemu-img adds that the
 * protocol may take more; with one it lists the protocol's too.
 */
export function createOptionsHelp(traits: FormatTraits, filename: string | undefined): string {
  const options = creationOptions(traits, filename).sort((a, b) => a.name.localeCompare(b.name));
  const lines = [filename === undefined ? `Supported ${traits.name} options:` : 'Supported options:', ...options.map(helpLine)];
  if (filename === undefined) {
    lines.push('', 'The protocol level may support further options.', 'Specify the target filename to include those options.');
  }
  return `${lines.join('\n')}\n`;
}

function helpLine(option: CreateOptionInfo): string {
  const name = `${option.name}=<${option.type}>`;
  return option.description === undefined ? `  ${name}` : `  ${name.padEnd(22)} - ${option.description}`;
}
