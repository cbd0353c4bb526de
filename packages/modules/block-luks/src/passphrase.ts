import type { BlockSecrets } from '@tessera/core';
import { codedError } from './errors.ts';

/**
 * The passphrase in the secret `id` names, as qemu takes it (qcrypto_secret_lookup_as_utf8):
 * valid UTF-8, up to its first NUL byte. `prefix`: qemu's option prefix in the message
 * (`encrypt.` inside qcow2).
 */
export function passphrase(secrets: BlockSecrets | undefined, id: string | undefined, prefix = ''): Uint8Array {
  if (id === undefined) throw codedError(`Parameter '${prefix}key-secret' is required for cipher`, 'invalid-option');
  if (!secrets) throw codedError(`No secret with id '${id}'`, 'invalid-option');
  const bytes = secrets.secret(id);
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw codedError(`Data from secret ${id} is not valid UTF-8`, 'invalid-option');
  }
  const end = bytes.indexOf(0);
  return end < 0 ? bytes : bytes.subarray(0, end);
}
