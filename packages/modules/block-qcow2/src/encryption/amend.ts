// qemu-img amend of an encrypted image: its LUKS key slots (`encrypt.state`, `encrypt.new-secret`,
// …), changed by the crypto module in the header's clusters, which keep their place and size, so
// the qcow2 metadata is not touched. Other options of an encrypted image are not amended here
// (amend.ts rewrites the header, which would drop the encryption's extension).
import type { AmendSettings } from '@tessera/core';
import { codedError } from '../errors.ts';
import type { Qcow2State } from '../state.ts';
import type { DataCipher } from './data-cipher.ts';
import { ENCRYPT_PREFIX } from './options.ts';

export async function amendEncrypted(image: Qcow2State, encryption: DataCipher, options: Readonly<Record<string, string>>, settings: AmendSettings): Promise<void> {
  const keySlots: Record<string, string> = {};
  const others: string[] = [];
  for (const [key, value] of Object.entries(options)) {
    if (key.startsWith(ENCRYPT_PREFIX)) keySlots[key.slice(ENCRYPT_PREFIX.length)] = value;
    else others.push(key);
  }
  const changesKeySlots = Object.keys(keySlots).length > 0;
  if (changesKeySlots && encryption.format !== 'luks') throw codedError('Only LUKS encryption options can be amended', 'invalid-option');
  if (others.length) {
    throw codedError(`${image.filename}: amend of ${others.join(', ')} on an encrypted image is not supported yet (only its encrypt.* key-slot options)`, 'unsupported-operation');
  }
  if (!changesKeySlots) return;
  if (image.readOnly) throw codedError(`${image.filename}: the image is opened read-only`, 'unsupported-operation');
  await image.lock.write(() => encryption.amend(keySlots, settings));
}
