// Opening a LUKS1 header and its key, wherever the header lies: at the start of a luks image
// (driver.ts) or in the clusters a qcow2 image keeps for it (crypto-service.ts).
import type { BlockNode, BlockSecrets } from '@tessera/core';
import { checkRunnable, suiteOfHeader, type CipherSuite } from './algorithms.ts';
import { codedError } from './errors.ts';
import { HEADER_SIZE, SECTOR_SIZE, parseHeader, type LuksHeader } from './header.ts';
import { unlockMasterKey } from './keyslots.ts';
import { passphrase } from './passphrase.ts';
import { SectorCipher } from './sector-cipher.ts';

export interface LuksVolume {
  readonly header: LuksHeader;
  readonly suite: CipherSuite;
  /** Absent when opened for metadata only. */
  readonly cipher: SectorCipher | undefined;
  /** The unlocked key (amend fills new key slots with it); absent when opened for metadata only. */
  readonly masterKey: Uint8Array | undefined;
}

export interface VolumeOpenOptions {
  readonly keySecret: string | undefined;
  readonly secrets: BlockSecrets | undefined;
  /** Only the header is read (qemu's BDRV_O_NO_IO): no passphrase needed. */
  readonly metadataOnly?: boolean;
  /** The option prefix qemu's messages put before `key-secret` (`encrypt.` inside qcow2). */
  readonly prefix?: string;
}

/** The header at the start of `file` (key-slot offsets relative to it), checked, and its key unlocked unless metadata only. */
export async function openVolume(file: BlockNode, options: VolumeOpenOptions): Promise<LuksVolume> {
  if (file.size < HEADER_SIZE) throw codedError('Volume is not in LUKS format', 'corrupt-image');
  const bytes = new Uint8Array(HEADER_SIZE);
  await file.read(0, bytes);
  const header = parseHeader(bytes);
  const suite = suiteOfHeader(header.cipherName, header.cipherMode, header.hashSpec, header.keyBytes);
  const payloadOffset = header.payloadOffsetSector * SECTOR_SIZE;
  if (payloadOffset > file.size) {
    throw codedError(`LUKS payload offset ${payloadOffset} is beyond the end of the file (${file.size} bytes)`, 'corrupt-image');
  }
  if (options.metadataOnly) return { header, suite, cipher: undefined, masterKey: undefined };
  const password = passphrase(options.secrets, options.keySecret, options.prefix);
  checkRunnable(suite);
  const masterKey = await unlockMasterKey(file, header, suite, password);
  return { header, suite, cipher: new SectorCipher(suite, masterKey), masterKey };
}
