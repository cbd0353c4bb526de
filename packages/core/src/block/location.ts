import { dirname, isAbsolute, join } from 'node:path';

/** The protocol a location names: its URL scheme (`http://…` → `http`), or `file` for a path. */
export function protocolOf(location: string): string {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(location);
  return match ? match[1]!.toLowerCase() : 'file';
}

/** `name` as recorded inside the image at `base` (a backing file): relative names are relative to `base`. */
export function resolveRelative(base: string, name: string): string {
  if (protocolOf(name) !== 'file' || isAbsolute(name)) return name;
  if (protocolOf(base) !== 'file') return new URL(name, base).href;
  return join(dirname(base), name);
}
