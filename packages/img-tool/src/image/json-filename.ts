/**
 * qemu's `json:{…}` filenames: the image's open options as one JSON object, nested objects for
 * child nodes (`"file": {"driver": "file", "filename": "x.qcow2"}`) or dotted keys for the same
 * (`"file.filename": "x.qcow2"`). They are turned into the `--image-opts` form, dotted keys with
 * qemu's `,,` for commas, so that both forms are read by one parser.
 */
import { ToolError } from '../cli/errors.ts';

const PREFIX = 'json:';

/** The filename is a `json:` pseudo-filename (qemu's test: the prefix, nothing else). */
export function isJsonFilename(filename: string): boolean {
  return filename.startsWith(PREFIX);
}

/**
 * The `--image-opts` text a `json:` filename stands for: nested keys flattened with dots, list
 * elements numbered (`x.0`), booleans as on/off, numbers as written, null as the empty string
 * (qemu's "backing": null, no backing file). qemu's messages for text that is not a JSON object.
 */
export function jsonFilenameOptions(filename: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(filename.slice(PREFIX.length));
  } catch (error) {
    throw new ToolError(`Could not parse the JSON options: JSON parse error, ${jsonProblem(error, filename.length - PREFIX.length)}`, 1, { cause: error });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ToolError('Invalid JSON object given');
  const entries: string[] = [];
  flatten(parsed as Record<string, unknown>, '', entries);
  return entries.join(',');
}

function flatten(value: Record<string, unknown> | unknown[], prefix: string, into: string[]): void {
  for (const [key, item] of Object.entries(value)) {
    const name = prefix + key;
    if (item !== null && typeof item === 'object') flatten(item as Record<string, unknown> | unknown[], `${name}.`, into);
    else into.push(`${name}=${scalar(item).replaceAll(',', ',,')}`);
  }
}

function scalar(value: unknown): string {
  if (value === null) return '';
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  return String(value);
}

/** qemu's parser says "premature EOI" for text that ends too soon; other faults as Node names them. */
function jsonProblem(error: unknown, length: number): string {
  const message = error instanceof Error ? error.message : String(error);
  const at = /at position (\d+)/.exec(message);
  if (/end of (JSON )?input/i.test(message) || (at && Number(at[1]) >= length)) return 'premature EOI';
  return message;
}
