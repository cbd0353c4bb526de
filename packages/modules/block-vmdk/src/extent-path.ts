/**
 * Extent file names come from an untrusted descriptor. qemu opens whatever they name (absolute
 * paths, `..`, other protocols); this driver is stricter: only a relative path that stays in the
 * descriptor's directory or below it, so an image cannot make the tool read or write files
 * elsewhere (/etc/shadow, a device, another user's disk).
 */
import { unsupportedFeature } from './errors.ts';

export function checkExtentPath(name: string, descriptor: string): void {
  const refuse = (why: string) => {
    throw unsupportedFeature(
      `Could not open '${descriptor}': extent file name '${name}' ${why}; only extents in the descriptor's directory or below it are opened ` +
        `(move the extent there and name it relative to the descriptor)`,
    );
  };
  if (name === '') refuse('is empty');
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) refuse('is an absolute path');
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(name)) refuse('names a protocol');
  if (name.split(/[/\\]/).includes('..')) refuse("leaves the descriptor's directory ('..')");
  if (name.includes('\0')) refuse('contains a NUL byte');
}
