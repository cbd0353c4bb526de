// The encryption this module provides to other formats (`block-crypto:luks`, `block-crypto:aes`):
// qcow2's encrypt.format=luks keeps a LUKS1 header (key slots relative to it) in clusters of its
// own, and its legacy encrypt.format=aes derives an AES-128-CBC key from the passphrase itself.
// Sector numbers are the caller's (qcow2: the host offset for luks, the guest offset for aes).
import type { BlockCrypto, BlockCryptoVolume } from '@tessera/core';
import { masterKeyBytes, type CipherSuite } from './algorithms.ts';
import { parseCreateOptions } from './create-options.ts';
import { checkCreation, createLuks, payloadOffsetSectors } from './create.ts';
import { describeLuks } from './describe.ts';
import { codedError } from './errors.ts';
import { SECTOR_SIZE } from './header.ts';
import { passphrase } from './passphrase.ts';
import { SectorCipher } from './sector-cipher.ts';
import { openVolume } from './volume.ts';

/** A LUKS1 header inside another format's file. */
export const luksCrypto: BlockCrypto = {
  name: 'luks',
  checkCreate({ options, secrets, prefix }) {
    checkCreation(parseCreateOptions(options), secrets, prefix);
  },
  headerSize({ options }) {
    return payloadOffsetSectors(masterKeyBytes(parseCreateOptions(options).suite)) * SECTOR_SIZE;
  },
  async create(header, { options, secrets, prefix }) {
    if (!header) throw codedError('a LUKS header needs storage', 'invalid-option');
    await createLuks(header, 0, parseCreateOptions(options), secrets, prefix);
  },
  async open(header, { options, secrets, prefix, metadataOnly }) {
    if (!header) throw codedError('Volume is not in LUKS format', 'corrupt-image');
    const volume = await openVolume(header, { keySecret: options['key-secret'], secrets, prefix, metadataOnly: metadataOnly ?? false });
    const luks = describeLuks(volume.header, volume.suite).formatSpecific!.data;
    // qemu-img prints `format` among the luks fields, before the cipher mode (its dictionary's order).
    const described: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(luks)) {
      if (key === 'cipher-mode') described.format = 'luks';
      described[key] = value;
    }
    return sectorVolume(volume.cipher, described);
  },
};

/** qcow and qcow2's legacy AES: the passphrase's first 16 bytes (zero padded) as the key, CBC with plain64 IVs. */
const QCOW_AES: CipherSuite = { alg: 'aes-128', mode: 'cbc', ivgen: 'plain64', ivgenHash: undefined, hash: 'sha256' };
const AES_KEY_BYTES = 16;

export const qcowAesCrypto: BlockCrypto = {
  name: 'aes',
  checkCreate({ options, secrets, prefix }) {
    passphrase(secrets, options['key-secret'], prefix);
  },
  headerSize: () => 0,
  async create() {},
  async open(_header, { options, secrets, prefix, metadataOnly }) {
    if (metadataOnly) return sectorVolume(undefined, { format: 'aes' });
    const password = passphrase(secrets, options['key-secret'], prefix);
    const key = new Uint8Array(AES_KEY_BYTES);
    key.set(password.subarray(0, AES_KEY_BYTES));
    return sectorVolume(new SectorCipher(QCOW_AES, key), { format: 'aes' });
  },
};

function sectorVolume(cipher: SectorCipher | undefined, described: Readonly<Record<string, unknown>>): BlockCryptoVolume {
  const need = (): SectorCipher => {
    if (!cipher) throw codedError('the encryption key was not unlocked (opened for metadata only)', 'unsupported-operation');
    return cipher;
  };
  return {
    encrypt: (data, sector) => need().encrypt(data, sector),
    decrypt: (data, sector) => need().decrypt(data, sector),
    describe: () => described,
  };
}

