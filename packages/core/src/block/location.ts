import { dirname, isAbsolute, join } from 'node:path';

/**
 * qemu's `proto:` spellings without `//` that name storage, not a file: `nbd:host:port`,
 * `nbd:unix:PATH` (each `[:exportname=X]`), `rbd:pool/image[@snap][:opt=val…]`. Only these:
 * qemu would take any `word:` before a slash as a protocol, which would make local names such
 * as `a:b.raw` unopenable.
 */
const PREFIX_PROTOCOLS = /^(nbd|rbd):(?!\/\/)/i;

/** The protocol a location names: its URL scheme (`http://…` → `http`), a legacy prefix (`nbd:…`), or `file` for a path. */
export function protocolOf(location: string): string {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(location) ?? PREFIX_PROTOCOLS.exec(location);
  return match ? match[1]!.toLowerCase() : 'file';
}

/** `name` as recorded inside the image at `base` (a backing file): relative names are relative to `base`. */
export function resolveRelative(base: string, name: string): string {
  if (protocolOf(name) !== 'file' || isAbsolute(name)) return name;
  if (protocolOf(base) !== 'file') return new URL(name, base).href;
  return join(dirname(base), name);
}
