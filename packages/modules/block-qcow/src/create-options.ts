import type { BlockOptionSpec } from '@tessera/core';
import { codedError } from '@tessera/module-kit/coded-error';

/**
 * `qemu-img create -f qcow -o help`, with qemu-img's names and help
 * text; `default` is qemu's default value string, the one qemu-img lists in its "Formatting …"
 * line when the option is not given.
 */
export const createOptionTable: readonly BlockOptionSpec[] = [
  { name: 'backing_file', type: 'str', description: 'File name of a base image' },
  { name: 'backing_fmt', type: 'str', description: 'Format of the backing image' },
  { name: 'encryption', type: 'bool', description: "Encrypt the image with format 'aes'. (Deprecated in favor of encrypt.format=aes)", default: false },
  { name: 'encrypt.format', type: 'str', description: "Encrypt the image, format choices: 'aes'" },
  { name: 'encrypt.key-secret', type: 'str', description: 'ID of the secret that provides the AES encryption key' },
];

export interface QcowCreateOptions {
  readonly backingFile?: string;
  readonly backingFormat?: string;
}

/** The one place option values are read. Encryption is refused: qemu no longer writes it either. */
export function parseCreateOptions(options: Readonly<Record<string, string>>): QcowCreateOptions {
  const encryption = options.encryption ?? 'off';
  if (!['on', 'off', 'yes', 'no', 'true', 'false'].includes(encryption)) throw codedError("Parameter 'encryption' expects 'on' or 'off'", 'invalid-option');
  if (['on', 'yes', 'true'].includes(encryption) || options['encrypt.format'] !== undefined || options['encrypt.key-secret'] !== undefined) {
    throw codedError(
      "encrypted qcow images are not supported: qcow's AES-CBC encryption is insecure and QEMU no longer writes it; create the image without encryption",
      'unsupported-feature',
    );
  }
  const backingFile = options.backing_file || undefined;
  return { ...(backingFile ? { backingFile } : {}), ...(options.backing_fmt ? { backingFormat: options.backing_fmt } : {}) };
}
