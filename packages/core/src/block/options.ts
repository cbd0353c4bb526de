// Driver options (`-o` of create and amend, `--image-opts` of open) checked once, here, against
// the driver's declared schema, with qemu-img's messages; and the two texts generated from a
// schema: `-o help` and create's "Formatting …" line.
import { BlockError } from './errors.ts';
import { MAX_SIZE, parseSize } from './size.ts';
import type { BlockOptionSpec } from './types.ts';

/** One `key=value` entry as the user gave it. */
export interface BlockOptionEntry {
  readonly key: string;
  readonly value: string;
}

/** The virtual size: every format's create takes it, whether or not its driver declares it. */
export const SIZE_OPTION: BlockOptionSpec = { name: 'size', type: 'size', description: 'Virtual disk size' };

const BOOLEANS = ['on', 'off', 'yes', 'no', 'true', 'false'];

/** `specs` with `size` in it: where the driver declared it, else first. */
export function withSizeOption(specs: readonly BlockOptionSpec[]): BlockOptionSpec[] {
  return specs.some((spec) => spec.name === 'size') ? [...specs] : [SIZE_OPTION, ...specs];
}

/**
 * Check `entries` against `specs` (later entries win) and return the values as drivers get them:
 * sizes and numbers in decimal, booleans and strings as given. Throws a BlockError coded
 * `invalid-option` with qemu-img's message for the first bad entry.
 */
export function parseBlockOptions(entries: readonly BlockOptionEntry[], specs: readonly BlockOptionSpec[]): Record<string, string> {
  const values: Record<string, string> = {};
  for (const { key, value } of entries) {
    const spec = specs.find((candidate) => candidate.name === key);
    if (!spec) throw invalidOption(`Invalid parameter '${key}'`);
    values[key] = checkValue(spec, value);
  }
  return values;
}

/**
 * `amend -o` entries checked as `parseBlockOptions` checks them, against what the driver can
 * amend; a creation option it cannot amend is refused as qemu-img refuses it. Keys are checked
 * before any value, as qemu's amend does.
 */
export function parseAmendOptions(
  entries: readonly BlockOptionEntry[],
  amendable: readonly BlockOptionSpec[],
  creation: readonly BlockOptionSpec[],
): Record<string, string> {
  for (const { key } of entries) {
    if (amendable.some((spec) => spec.name === key)) continue;
    if (creation.some((spec) => spec.name === key)) throw invalidOption(`Invalid parameter '${key}'\nThis option is only supported for image creation`);
    throw invalidOption(`Invalid parameter '${key}'`);
  }
  return parseBlockOptions(entries, amendable);
}

/**
 * A format node's open options (`--image-opts` keys beside `driver` and `file.*`) against its
 * driver's `openOptions`, with qemu's words for a key the format does not take.
 */
export function parseOpenOptions(format: string, options: Readonly<Record<string, string>>, specs: readonly BlockOptionSpec[]): Record<string, string> {
  const entries = Object.entries(options).map(([key, value]) => ({ key, value }));
  const unknown = entries.find(({ key }) => !specs.some((spec) => spec.name === key));
  if (unknown) throw invalidOption(`Block format '${format}' does not support the option '${unknown.key}'`);
  return parseBlockOptions(entries, specs);
}

/** A value as the driver gets it, or qemu-img's refusal. */
function checkValue(spec: BlockOptionSpec, text: string): string {
  switch (spec.type) {
    case 'size':
      return String(parseSizeValue(spec.name, text));
    case 'num': {
      const value = parseCNumber(text);
      if (value === undefined) throw invalidOption(`Parameter '${spec.name}' expects a number`);
      return String(value);
    }
    case 'bool':
      if (!BOOLEANS.includes(text)) throw invalidOption(`Parameter '${spec.name}' expects 'on' or 'off'`);
      return text;
    case 'str':
      return text;
  }
}

function parseSizeValue(name: string, text: string): bigint {
  const parsed = parseSize(text);
  if (parsed.ok && parsed.value <= MAX_SIZE) return parsed.value;
  if (!parsed.ok && parsed.reason === 'invalid') {
    throw invalidOption(
      `Parameter '${name}' expects a non-negative number below 2^64\n` +
        'Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n' +
        'and exabytes, respectively.',
    );
  }
  throw invalidOption(`Value '${text}' is out of range for parameter '${name}'`);
}

/**
 * A number as qemu's option parser reads it (strtoull, base 0: decimal, `0x` hex, leading-`0`
 * octal; leading blanks and a sign; `-n` wraps modulo 2^64), as the signed 64-bit value qemu
 * prints it as. Undefined for anything else, or beyond 64 bits.
 */
export function parseCNumber(text: string): bigint | undefined {
  const match = /^[ \t\n\v\f\r]*([+-]?)(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))$/.exec(text);
  if (!match) return undefined;
  const magnitude = match[2] !== undefined ? BigInt(`0x${match[2]}`) : match[3] !== undefined ? BigInt(`0o${match[3].slice(1) || '0'}`) : BigInt(match[4]!);
  if (magnitude >= 1n << 64n) return undefined;
  return BigInt.asIntN(64, match[1] === '-' ? -magnitude : magnitude);
}

/** `-o help` lines: the options sorted by name, each with its type and help text. */
export function optionHelpLines(specs: readonly BlockOptionSpec[]): string[] {
  return [...specs].sort((a, b) => a.name.localeCompare(b.name)).map((spec) => {
    const name = `${spec.name}=<${spec.type === 'bool' ? 'bool (on/off)' : spec.type}>`;
    return spec.description === undefined ? `  ${name}` : `  ${name.padEnd(22)} - ${spec.description}`;
  });
}

/**
 * The `key=value` list of create's "Formatting …" line after `fmt=`: in schema order, each
 * option given, and each one not given whose default is printed.
 */
export function formattingSummary(specs: readonly BlockOptionSpec[], values: Readonly<Record<string, string>>): string[] {
  return specs.flatMap((spec) => {
    const value = values[spec.name];
    if (value !== undefined) return [`${spec.name}=${value}`];
    if (spec.printDefault && spec.default !== undefined) return [`${spec.name}=${printed(spec.default)}`];
    return [];
  });
}

function printed(value: string | number | boolean): string {
  return typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value);
}

function invalidOption(message: string): BlockError {
  return new BlockError(message, { code: 'invalid-option' });
}
