/**
 * A differencing VHDX's parent locator (VHDX specification 2.6.2.6): a type GUID and key/value
 * pairs of UTF-16LE strings, and where the parent is as this driver looks for it. Every offset
 * and length is checked against the item (at most 1 MiB, bounded by the metadata reader).
 */
import { corrupt, unsupported } from './errors.ts';
import { guidBytes, sameGuid } from './guid.ts';

/** The only locator type the specification defines: a VHDX parent. */
const VHDX_PARENT_TYPE = guidBytes('B04AEFB7-D19E-4A81-B789-25B8E9445913');
const HEADER_SIZE = 20;
const ENTRY_SIZE = 12;

export function parseParentLocator(bytes: Uint8Array, name: string): ReadonlyMap<string, string> {
  if (bytes.length < HEADER_SIZE) throw corrupt(name, 'The parent locator is too short');
  if (!sameGuid(bytes.subarray(0, 16), VHDX_PARENT_TYPE)) throw unsupported(name, 'The parent locator is not of the VHDX type');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const count = view.getUint16(18, true);
  if (HEADER_SIZE + count * ENTRY_SIZE > bytes.length) throw corrupt(name, `The parent locator's ${count} entries do not fit in it`);
  const text = (offset: number, length: number, what: string) => {
    if (length % 2 !== 0 || offset + length > bytes.length || length === 0) throw corrupt(name, `The parent locator's ${what} lies outside it`);
    return new TextDecoder('utf-16le').decode(bytes.subarray(offset, offset + length));
  };
  const entries = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const at = HEADER_SIZE + i * ENTRY_SIZE;
    const key = text(view.getUint32(at, true), view.getUint16(at + 8, true), `key ${i}`);
    entries.set(key, text(view.getUint32(at + 4, true), view.getUint16(at + 10, true), `value ${i}`));
  }
  return entries;
}

/**
 * The name to open the parent by, relative to the child: `relative_path` (`.\parent.vhdx`), else
 * `absolute_win32_path` when it is a path this system can open (a `C:\…` path is not). Windows'
 * separators become `/`.
 */
export function parentPath(locator: ReadonlyMap<string, string>, name: string): string {
  const relative = locator.get('relative_path');
  if (relative !== undefined) return relative.replaceAll('\\', '/').replace(/^(\.\/)+/, '');
  const absolute = locator.get('absolute_win32_path');
  if (absolute !== undefined && !/^[A-Za-z]:|^\\\\/.test(absolute)) return absolute.replaceAll('\\', '/');
  const shown = absolute ?? locator.get('volume_path');
  throw unsupported(name, shown === undefined ? 'The parent locator names no parent path' : `The parent image '${shown}' is named by a Windows path only; convert the chain on Windows, or place the parent beside the image and set its relative path`);
}
