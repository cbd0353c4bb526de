import type { BlockOptionSpec } from '@tessera/core';
import { codedError } from '@tessera/module-kit/coded-error';

/** raw's open options (`--image-opts driver=raw,offset=…,size=…`), as qemu names them; both change what the image shows. */
export const RAW_OPEN_OPTIONS: readonly BlockOptionSpec[] = [
  { name: 'offset', type: 'size', description: 'offset in the disk where the image starts', strong: true },
  { name: 'size', type: 'size', description: 'virtual disk size', strong: true },
];

/** The window of the file the image is: from `offset`, `size` bytes (undefined: to the file's end). */
export interface RawWindow {
  readonly offset: number;
  readonly size: number | undefined;
}

/**
 * The window the options ask for, checked against the file's length as qemu checks it, with its
 * messages. Undefined when neither option is given (the image is the whole file).
 */
export function rawWindow(options: Readonly<Record<string, string>>, fileSize: number): RawWindow | undefined {
  if (options.offset === undefined && options.size === undefined) return undefined;
  const offset = Number(options.offset ?? 0);
  const size = options.size === undefined ? undefined : Number(options.size);
  if (offset > fileSize) throw codedError(`Offset (${offset}) cannot be greater than size of the containing file (${fileSize})`, 'invalid-option');
  if (size !== undefined && size % 512 !== 0) throw codedError('Specified size is not multiple of 512', 'invalid-option');
  if (size !== undefined && offset + size > fileSize) {
    // qemu's message, its doubled blank included.
    throw codedError(`The sum of offset (${offset}) and size (${size}) has to be smaller or equal to the  actual size of the containing file (${fileSize})`, 'invalid-option');
  }
  return { offset, size };
}
