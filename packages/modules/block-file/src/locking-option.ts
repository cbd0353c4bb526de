import { codedError } from '@tessera/module-kit/coded-error';

/** The file protocol's open options, as qemu's file driver names them. */
export const FILE_OPEN_OPTIONS = ['locking'];

/**
 * `file.locking`: `on` and `auto` take QEMU's image locks (OFD locks are always there on Linux,
 * so auto means on); `off` takes none, for images on storage whose locks cannot be trusted or
 * when another tool is known not to write. qemu's message for another value.
 */
export function lockingWanted(options: Readonly<Record<string, string>>): boolean {
  const value = options.locking ?? 'auto';
  if (value === 'on' || value === 'auto') return true;
  if (value === 'off') return false;
  throw codedError(`invalid parameter value: ${value}`, 'invalid-option');
}

/** Stands in for the locks of a file opened with `locking=off`: nothing is locked, nothing conflicts. */
export const NO_LOCKS = { set(): void {} };
