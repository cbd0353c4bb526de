import { imageSpecOf } from './image-opts.ts';
import type { ImageSpec } from './spec.ts';

/**
 * A `json:{…}` pseudo-filename (qemu's way to give open options where a filename goes): nested
 * objects flattened into dotted keys (`{"file": {"server": {"host": …}}}` is `file.server.host`),
 * then read as `--image-opts`. qemu's messages for what is not an object.
 */
export function parseJsonFilename(filename: string): ImageSpec {
  let parsed: unknown;
  try {
    parsed = JSON.parse(filename.slice('json:'.length));
  } catch (error) {
    throw new Error(`Could not parse the JSON options: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('Invalid JSON object given');
  const entries: { key: string; value: string }[] = [];
  flatten(parsed as Record<string, unknown>, '', entries);
  return imageSpecOf(entries);
}

function flatten(object: Readonly<Record<string, unknown>>, prefix: string, into: { key: string; value: string }[]): void {
  for (const [key, value] of Object.entries(object)) {
    const name = prefix + key;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) flatten(value as Record<string, unknown>, `${name}.`, into);
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') into.push({ key: name, value: typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value) });
    else throw new Error(`Invalid value for option '${name}' in the JSON options`);
  }
}
