// A new LUKS1 image laid out as qemu-img lays it out: header, eight key-slot areas of which the
// first is filled, the payload after them (left unwritten: it decrypts to noise, as qemu's).
import { randomBytes, randomUUID } from 'node:crypto';
import type { BlockNode, BlockSecrets } from '@tessera/core';
import { checkRunnable, headerNames, masterKeyBytes } from './algorithms.ts';
import type { LuksCreateOptions } from './create-options.ts';
import { codedError } from './errors.ts';
import { DIGEST_SIZE, KEY_SLOT_ALIGNMENT, SALT_SIZE, SECTOR_SIZE, SLOT_COUNT, STRIPES, encodeHeader, materialSectors, type KeySlot } from './header.ts';
import { makeKeySlot } from './keyslots.ts';
import { passphrase } from './passphrase.ts';
import { IterationBudget, slotIterationCount } from './pbkdf.ts';

/** qemu's (and cryptsetup's) floor for the master key digest's PBKDF2 count. */
const MIN_MASTER_KEY_ITERATIONS = 1000;

/** Where qemu-img's layout puts the payload: after the header's 4 KiB and eight aligned key-slot areas. */
export function payloadOffsetSectors(keyBytes: number): number {
  return KEY_SLOT_ALIGNMENT / SECTOR_SIZE + SLOT_COUNT * materialSectors(keyBytes, STRIPES);
}

/** What would make creation fail, found before any storage is made: the passphrase and the suite. */
export function checkCreation(options: LuksCreateOptions, secrets: BlockSecrets | undefined, prefix = ''): Uint8Array {
  const password = passphrase(secrets, options.keySecret, prefix);
  const { suite } = options;
  checkRunnable(suite);
  const keyBytes = masterKeyBytes(suite);
  if ((keyBytes * STRIPES) % SECTOR_SIZE !== 0) {
    // aes-192: 96000 bytes of key material. qemu 7.2 aborts making (and reading) such images.
    throw codedError(`cipher-alg=${suite.alg}: its key material (${keyBytes * STRIPES} bytes) is not whole 512-byte sectors, which qemu cannot read; use aes-128 or aes-256`, 'invalid-option');
  }
  return password;
}

export async function createLuks(file: BlockNode, size: number, options: LuksCreateOptions, secrets: BlockSecrets | undefined, prefix = ''): Promise<void> {
  const password = checkCreation(options, secrets, prefix);
  const { suite } = options;
  const keyBytes = masterKeyBytes(suite);
  const slotIterations = slotIterationCount(suite.hash, options.iterTime);
  // An eighth for the digest, as cryptsetup: with all eight slots tried, one iter-time in all.
  const masterIterations = Math.max(MIN_MASTER_KEY_ITERATIONS, Math.floor(slotIterations / 8));
  const masterKey = new Uint8Array(randomBytes(keyBytes));
  const mkDigestSalt = new Uint8Array(randomBytes(SALT_SIZE));
  const mkDigest = await new IterationBudget(Infinity, Infinity).derive('master key', masterKey, mkDigestSalt, masterIterations, DIGEST_SIZE, suite.hash);
  const slotSectors = materialSectors(keyBytes, STRIPES);
  const firstSlot = KEY_SLOT_ALIGNMENT / SECTOR_SIZE;
  const payloadOffsetSector = payloadOffsetSectors(keyBytes);
  const { slot, material } = await makeKeySlot(suite, masterKey, password, slotIterations, STRIPES, firstSlot);
  const slots: KeySlot[] = [slot];
  for (let i = 1; i < SLOT_COUNT; i++) {
    slots.push({ active: false, iterations: 0, salt: new Uint8Array(SALT_SIZE), keyOffsetSector: firstSlot + i * slotSectors, stripes: STRIPES });
  }
  const header = encodeHeader({
    ...headerNames(suite),
    hashSpec: suite.hash,
    payloadOffsetSector,
    keyBytes,
    mkDigest,
    mkDigestSalt,
    mkDigestIterations: masterIterations,
    uuid: randomUUID(),
    slots,
  });
  masterKey.fill(0);
  await file.write(0, header);
  await file.write(firstSlot * SECTOR_SIZE, material);
  const end = payloadOffsetSector * SECTOR_SIZE + size;
  if (file.resize) await file.resize(end, { shrink: false });
  else if (end > file.size) await file.write(end - 1, new Uint8Array(1));
  await file.flush();
}
