// The encryption this module provides to other formats (`block-crypto:luks`, `block-crypto:aes`):
// qcow2's encrypt.format=luks keeps a LUKS1 header (key slots relative to it) in clusters of its
// own, and its legacy encrypt.format=aes derives an AES-128-CBC key from the passphrase itself.
// Sector numbers are the caller's (qcow2: the host offset for luks, the guest offset for aes).
import type { BlockCrypto, BlockCryptoVolume } from '@tessera/core';
import { masterKeyBytes, type CipherSuite } from './algorithms.ts';
import { amendKeySlots } from './amend.ts';
import { parseKeySlotChange } from './amend-options.ts';
import { parseCreateOptions } from './create-options.ts';
import { checkCreation, createLuks, payloadOffsetSectors } from './create.ts';
import { describeLuks } from './describe.ts';
import { codedError } from './errors.ts';
import { SECTOR_SIZE, type LuksHeader } from './header.ts';
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
    let current = volume.header;
    return {
      ...sectorVolume(volume.cipher, () => describeInQcow2(current, volume.suite)),
      async amend(changes, settings) {
        const change = parseKeySlotChange(changes);
        if (!volume.masterKey) throw codedError('the encryption key was not unlocked (opened for metadata only)', 'unsupported-operation');
        current = await amendKeySlots({ file: header, header: current, suite: volume.suite, masterKey: volume.masterKey }, change, secrets, settings);
      },
    };
  },
};

/** The luks fields as qemu-img prints them inside qcow2's: `format` before the cipher mode (its dictionary's order). */
function describeInQcow2(header: LuksHeader, suite: CipherSuite): Record<string, unknown> {
  const described: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(describeLuks(header, suite).formatSpecific!.data)) {
    if (key === 'cipher-mode') described.format = 'luks';
    described[key] = value;
  }
  return described;
}

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
    if (metadataOnly) return sectorVolume(undefined, () => ({ format: 'aes' }));
    const password = passphrase(secrets, options['key-secret'], prefix);
    const key = new Uint8Array(AES_KEY_BYTES);
    key.set(password.subarray(0, AES_KEY_BYTES));
    return sectorVolume(new SectorCipher(QCOW_AES, key), () => ({ format: 'aes' }));
  },
};

function sectorVolume(cipher: SectorCipher | undefined, described: () => Readonly<Record<string, unknown>>): BlockCryptoVolume {
  const need = (): SectorCipher => {
    if (!cipher) throw codedError('the encryption key was not unlocked (opened for metadata only)', 'unsupported-operation');
    return cipher;
  };
  return {
    encrypt: (data, sector) => need().encrypt(data, sector),
    decrypt: (data, sector) => need().decrypt(data, sector),
    describe: described,
  };
}

