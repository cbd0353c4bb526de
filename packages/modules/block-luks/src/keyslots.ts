// Key slots: unlocking the master key with a passphrase (every active slot tried, as qemu), and
// filling a slot (create, amend).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { BlockNode } from '@tessera/core';
import { mergeKey, splitKey } from './anti-forensic.ts';
import type { CipherSuite } from './algorithms.ts';
import { codedError } from './errors.ts';
import { DIGEST_SIZE, SECTOR_SIZE, SALT_SIZE, type KeySlot, type LuksHeader } from './header.ts';
import { IterationBudget } from './pbkdf.ts';
import { SectorCipher } from './sector-cipher.ts';

/** The master key `password` unlocks, or qemu's "Invalid password, cannot unlock any keyslot". */
export async function unlockMasterKey(file: BlockNode, header: LuksHeader, suite: CipherSuite, password: Uint8Array, budget = new IterationBudget()): Promise<Uint8Array> {
  for (const index of header.slots.keys()) {
    const key = await masterKeyOfSlot(file, header, suite, index, password, budget);
    if (key) return key;
  }
  throw codedError('Invalid password, cannot unlock any keyslot', 'invalid-option');
}

/** The master key, when slot `index` is active and `password` unlocks it (its key matches the header's digest). */
export async function masterKeyOfSlot(file: BlockNode, header: LuksHeader, suite: CipherSuite, index: number, password: Uint8Array, budget: IterationBudget): Promise<Uint8Array | undefined> {
  const slot = header.slots[index]!;
  if (!slot.active) return undefined;
  const candidate = await keyOfSlot(file, header, suite, slot, index, password, budget);
  const digest = await budget.derive('master key digest', candidate, header.mkDigestSalt, header.mkDigestIterations, DIGEST_SIZE, suite.hash);
  return timingSafeEqual(digest, header.mkDigest) ? candidate : undefined;
}

async function keyOfSlot(file: BlockNode, header: LuksHeader, suite: CipherSuite, slot: KeySlot, index: number, password: Uint8Array, budget: IterationBudget): Promise<Uint8Array> {
  const slotKey = await budget.derive(`key slot ${index}`, password, slot.salt, slot.iterations, header.keyBytes, suite.hash);
  const material = new Uint8Array(header.keyBytes * slot.stripes);
  const at = slot.keyOffsetSector * SECTOR_SIZE;
  if (at + material.length > file.size) throw codedError(`Keyslot ${index} lies beyond the end of the file`, 'corrupt-image');
  await file.read(at, material);
  new SectorCipher(suite, slotKey).decrypt(material, 0);
  return mergeKey(suite.hash, material, header.keyBytes, slot.stripes);
}

/** A filled key slot for `password` (its header fields and its encrypted key material). */
export async function makeKeySlot(
  suite: CipherSuite,
  masterKey: Uint8Array,
  password: Uint8Array,
  iterations: number,
  stripes: number,
  keyOffsetSector: number,
): Promise<{ slot: KeySlot; material: Uint8Array }> {
  const salt = new Uint8Array(randomBytes(SALT_SIZE));
  const slotKey = await new IterationBudget(Infinity, Infinity).derive('key slot', password, salt, iterations, masterKey.length, suite.hash);
  const material = splitKey(suite.hash, masterKey, stripes);
  new SectorCipher(suite, slotKey).encrypt(material, 0);
  return { slot: { active: true, iterations, salt, keyOffsetSector, stripes }, material };
}
