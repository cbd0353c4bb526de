// An encrypted image's creation: the options checked and the crypto module asked before anything
// is written, then (luks) its header written into clusters reserved after the L1 table, where
// qemu-img puts it, before the qcow2 header that makes the file an image.
import type { BlockCrypto, BlockCryptoSettings, BlockNode, BlockSecrets } from '@tessera/core';
import { codedError } from '../errors.ts';
import { cryptoOf } from './crypto-source.ts';
import { CRYPT_AES, CRYPT_LUKS, type EncryptionHeaderPlace } from './header-extension.ts';
import { ENCRYPT_PREFIX, checkEncryptionSecret, encryptionRequest } from './options.ts';
import { headerWindow } from './window.ts';

export interface NewEncryption {
  /** The header's crypt_method. */
  readonly method: number;
  /** Bytes of the encryption header (0: none, legacy aes). */
  readonly headerBytes: number;
  readonly crypto: BlockCrypto;
  readonly settings: BlockCryptoSettings;
}

/** What `-o encrypt.*` asks for, checked (secret, suite), or undefined for an image without encryption. */
export async function newEncryption(formatOptions: Readonly<Record<string, string>>, secrets: BlockSecrets | undefined): Promise<NewEncryption | undefined> {
  const request = encryptionRequest(formatOptions);
  if (!request) return undefined;
  checkEncryptionSecret(request, secrets);
  // A preallocated cluster would decrypt to noise, not zeroes (as qemu's do): a copy onto the new
  // image would then skip zeroes it must write. Not supported rather than wrong.
  const preallocation = formatOptions.preallocation ?? 'off';
  if (preallocation !== 'off') {
    throw codedError(`preallocation=${preallocation} with encryption is not supported here (preallocated clusters would decrypt to noise); create the image without preallocation`, 'invalid-option');
  }
  const crypto = await cryptoOf(request.format);
  const settings: BlockCryptoSettings = { options: request.options, ...(secrets ? { secrets } : {}), prefix: ENCRYPT_PREFIX };
  crypto.checkCreate(settings);
  return { method: request.format === 'aes' ? CRYPT_AES : CRYPT_LUKS, headerBytes: crypto.headerSize(settings), crypto, settings };
}

/** Write the encryption header into `reserved` bytes at `offset` (zeroes where the header leaves them, as the spec asks). */
export async function writeEncryptionHeader(file: BlockNode, encryption: NewEncryption, offset: number, reserved: number): Promise<EncryptionHeaderPlace | undefined> {
  if (encryption.headerBytes === 0) return undefined;
  const place = { offset, length: encryption.headerBytes };
  await file.write(offset, new Uint8Array(reserved));
  await encryption.crypto.create(headerWindow(file, place), encryption.settings);
  return place;
}

/**
 * Bytes of the encryption header `-o` asks for (`measure`): qemu builds the header to measure it,
 * and so wants the secret named; its suite decides the key-slot areas' size.
 */
export async function measureEncryptionHeader(formatOptions: Readonly<Record<string, string>>): Promise<number> {
  const request = encryptionRequest(formatOptions);
  if (!request || request.format !== 'luks') return 0;
  if (request.options['key-secret'] === undefined) throw codedError(`Parameter '${ENCRYPT_PREFIX}key-secret' is required for cipher`, 'invalid-option');
  return (await cryptoOf('luks')).headerSize({ options: request.options, prefix: ENCRYPT_PREFIX });
}
