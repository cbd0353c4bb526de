// Amending a LUKS1 header's key slots (qemu-img amend), wherever the header lies, in an order a
// crash cannot turn into a lost image:
// - adding: the new key material is written and flushed before the header that points to it,
//   so until the header lands the slot is still free (its old material unused);
// - erasing: the header marking the slots free is written and flushed first, then their key
//   material is overwritten; the slots that stay keep opening with their secrets throughout.
import { randomBytes } from 'node:crypto';
import type { AmendSettings, BlockNode, BlockSecrets } from '@tessera/core';
import type { CipherSuite } from './algorithms.ts';
import { checkIndex, type KeySlotChange } from './amend-options.ts';
import { codedError } from './errors.ts';
import { SALT_SIZE, SECTOR_SIZE, encodeHeader, type KeySlot, type LuksHeader } from './header.ts';
import { makeKeySlot, masterKeyOfSlot } from './keyslots.ts';
import { passphrase } from './passphrase.ts';
import { IterationBudget, slotIterationCount } from './pbkdf.ts';

/** An opened header: where it lies (key-slot offsets relative to its start) and its unlocked key. */
export interface AmendTarget {
  readonly file: BlockNode;
  readonly header: LuksHeader;
  readonly suite: CipherSuite;
  readonly masterKey: Uint8Array;
}

const invalid = (message: string) => codedError(message, 'invalid-option');

/** Apply `change` (refused with qemu's messages); returns the header now on disk. */
export async function amendKeySlots(target: AmendTarget, change: KeySlotChange, secrets: BlockSecrets | undefined, settings: AmendSettings): Promise<LuksHeader> {
  return change.state === 'active' ? addKeySlot(target, change, secrets, settings.force ?? false) : eraseKeySlots(target, change, secrets, settings.force ?? false);
}

async function addKeySlot(target: AmendTarget, change: Extract<KeySlotChange, { state: 'active' }>, secrets: BlockSecrets | undefined, force: boolean): Promise<LuksHeader> {
  const { file, header, suite, masterKey } = target;
  const index = change.keyslot ?? header.slots.findIndex((slot) => !slot.active);
  if (index < 0) throw invalid("Can't add a keyslot - all keyslots are in use");
  const old = header.slots[index]!;
  if (old.active && !force) throw invalid(`Refusing to overwrite active keyslot ${index} - please erase it first`);
  const password = passphrase(secrets, change.newSecret);
  const iterations = slotIterationCount(suite.hash, change.iterTime);
  const { slot, material } = await makeKeySlot(suite, masterKey, password, iterations, old.stripes, old.keyOffsetSector);
  const at = old.keyOffsetSector * SECTOR_SIZE;
  inFile(file, at, material.length, index);
  await file.write(at, material);
  await file.flush();
  return writeHeader(file, withSlots(header, new Map([[index, slot]])));
}

async function eraseKeySlots(target: AmendTarget, change: Extract<KeySlotChange, { state: 'inactive' }>, secrets: BlockSecrets | undefined, force: boolean): Promise<LuksHeader> {
  const { file, header, suite } = target;
  const password = change.oldSecret === undefined ? undefined : passphrase(secrets, change.oldSecret);
  const budget = new IterationBudget();
  const opens = async (index: number) => password !== undefined && (await masterKeyOfSlot(file, header, suite, index, password, budget)) !== undefined;
  const activeCount = header.slots.filter((slot) => slot.active).length;
  let erase: number[];
  if (change.keyslot !== undefined) {
    const index = change.keyslot;
    checkIndex(index);
    if (password !== undefined && !(await opens(index))) throw invalid(`Given keyslot ${index} doesn't contain the given old password for erase operation`);
    // (qemu's message ends in a space.)
    if (!force && !header.slots[index]!.active) throw invalid(`Given keyslot ${index} is already erased (inactive) `);
    if (!force && activeCount === 1) {
      throw invalid(`Attempt to erase the only active keyslot ${index} which will erase all the data in the image irreversibly - refusing operation`);
    }
    erase = [index];
  } else {
    erase = [];
    for (const index of header.slots.keys()) if (await opens(index)) erase.push(index);
    if (erase.length === 0) throw invalid('No keyslots match given (old) password for erase operation');
    if (!force && erase.length === activeCount) {
      throw invalid('All the active keyslots match the (old) password that was given and erasing them will erase all the data in the image irreversibly - refusing operation');
    }
  }
  const next = await writeHeader(file, withSlots(header, new Map(erase.map((index) => [index, freeSlot(header.slots[index]!)]))));
  for (const index of erase) {
    const slot = header.slots[index]!;
    const at = slot.keyOffsetSector * SECTOR_SIZE;
    const length = header.keyBytes * slot.stripes;
    inFile(file, at, length, index);
    // One pass of noise: the anti-forensic split makes any changed stripe lose the key.
    await file.write(at, new Uint8Array(randomBytes(length)));
  }
  await file.flush();
  return next;
}

/** A free slot where `slot` was: its key-material area stays, its count and salt are zeroed (as qemu). */
function freeSlot(slot: KeySlot): KeySlot {
  return { active: false, iterations: 0, salt: new Uint8Array(SALT_SIZE), keyOffsetSector: slot.keyOffsetSector, stripes: slot.stripes };
}

function withSlots(header: LuksHeader, changed: ReadonlyMap<number, KeySlot>): LuksHeader {
  return { ...header, slots: header.slots.map((slot, index) => changed.get(index) ?? slot) };
}

/** The whole header in one write (592 bytes: within one sector, so it lands whole or not at all). */
async function writeHeader(file: BlockNode, header: LuksHeader): Promise<LuksHeader> {
  await file.write(0, encodeHeader(header));
  await file.flush();
  return header;
}

function inFile(file: BlockNode, at: number, length: number, index: number): void {
  if (at + length > file.size) throw codedError(`Keyslot ${index} lies beyond the end of the file`, 'corrupt-image');
}
