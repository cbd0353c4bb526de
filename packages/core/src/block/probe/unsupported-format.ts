import { BlockError } from '../errors.ts';

/**
 * An image whose content shows a format this program has no driver for: refused by name, with
 * what to do. `location` names the image when it is not the one the user named (a backing file).
 */
export function unsupportedFormat(format: string, location?: string): BlockError {
  return new BlockError(
    `${location !== undefined ? `Could not open '${location}': ` : ''}the image is in ${format} format, which this program has no driver for; ` +
      `convert it with qemu-img (qemu-img convert -O qcow2 SOURCE TARGET.qcow2) and use the result, ` +
      `or specify the 'raw' format explicitly if it is a raw disk`,
    { code: 'unsupported-format' },
  );
}
