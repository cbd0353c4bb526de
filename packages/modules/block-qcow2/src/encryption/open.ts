// Opening an encrypted image's encryption: the method and extension checked (header-extension.ts),
// the crypto module loaded on demand, the header read from its clusters and the key unlocked
// with the secret `encrypt.key-secret` names (not for `info`: qemu's BDRV_O_NO_IO).
import type { BlockNode, BlockOpenOptions } from '@tessera/core';
import { codedError } from '../errors.ts';
import type { Qcow2Header } from '../header/header.ts';
import { cryptoOf } from './crypto-source.ts';
import { DataCipher } from './data-cipher.ts';
import { CRYPT_LUKS, CRYPT_NONE, cryptFormatName, encryptionHeaderPlace } from './header-extension.ts';
import { ENCRYPT_PREFIX } from './options.ts';
import { headerWindow } from './window.ts';

export async function openEncryption(file: BlockNode, header: Qcow2Header, options: BlockOpenOptions): Promise<DataCipher | undefined> {
  if (header.cryptMethod === CRYPT_NONE) return undefined;
  const format = cryptFormatName(header.cryptMethod);
  const asked = options.driverOptions[`${ENCRYPT_PREFIX}format`];
  if (asked !== undefined && asked !== format) throw codedError(`Header reported '${format}' encryption format but options specify '${asked}'`, 'invalid-option');
  const place = header.cryptMethod === CRYPT_LUKS ? encryptionHeaderPlace(header.extensions, header.clusterSize, file.size, file.filename) : undefined;
  const crypto = await cryptoOf(format);
  const keySecret = options.driverOptions[`${ENCRYPT_PREFIX}key-secret`];
  const volume = await crypto.open(place ? headerWindow(file, place) : undefined, {
    options: keySecret === undefined ? {} : { 'key-secret': keySecret },
    ...(options.secrets ? { secrets: options.secrets } : {}),
    prefix: ENCRYPT_PREFIX,
    metadataOnly: options.metadataOnly ?? false,
  });
  return new DataCipher(volume, format, place);
}
