// `amend -o` of a LUKS header's key slots as qemu-img 7.2 takes them (QCryptoBlockAmendOptionsLUKS):
// the schema (also qcow2's, with its `encrypt.` prefix) and the request it describes, with
// qemu's messages for the combinations it refuses before anything is read.
import type { BlockOptionSpec } from '@tessera/core';
import { luksAmendOptions } from '@tessera/module-kit/crypto/luks-amend-options';
import { codedError } from './errors.ts';
import { SLOT_COUNT } from './header.ts';

export const amendOptionTable: readonly BlockOptionSpec[] = luksAmendOptions();

/** qemu's default iter-time (ms) for a new key slot, as create's. */
const DEFAULT_ITER_TIME = 2000;

export type KeySlotChange =
  /** Fill `keyslot` (else the first free one) with the secret `newSecret` names. */
  | { readonly state: 'active'; readonly newSecret: string; readonly keyslot: number | undefined; readonly iterTime: number }
  /** Erase `keyslot`, or every slot the secret `oldSecret` opens (with both: that slot, if it opens). */
  | { readonly state: 'inactive'; readonly keyslot: number | undefined; readonly oldSecret: string | undefined };

const invalid = (message: string) => codedError(message, 'invalid-option');

/** The change `options` (checked by the schema's types, no prefix) ask for, or qemu's refusal. */
export function parseKeySlotChange(options: Readonly<Record<string, string>>): KeySlotChange {
  const state = options.state;
  if (state === undefined) throw invalid("Parameter 'state' is missing");
  if (state !== 'active' && state !== 'inactive') throw invalid(`Parameter 'state' does not accept value '${state}'`);
  const keyslot = options.keyslot === undefined ? undefined : Number(options.keyslot);
  if (state === 'active') {
    if (options['new-secret'] === undefined) throw invalid("'new-secret' is required to activate a keyslot");
    if (options['old-secret'] !== undefined) throw invalid("'old-secret' must not be given when activating keyslots");
    // qemu prints the index as unsigned here (a negative one as 2^32 + it).
    if (keyslot !== undefined) checkIndex(keyslot < 0 ? keyslot + 2 ** 32 : keyslot);
    return { state, newSecret: options['new-secret'], keyslot, iterTime: Number(options['iter-time'] ?? DEFAULT_ITER_TIME) };
  }
  if (options['new-secret'] !== undefined) throw invalid("'new-secret' must not be given when erasing keyslots");
  if (options['iter-time'] !== undefined) throw invalid("'iter-time' must not be given when erasing keyslots");
  if (keyslot === undefined && options['old-secret'] === undefined) {
    throw invalid('To erase keyslot(s), either explicit keyslot index or the password currently contained in them must be given');
  }
  return { state, keyslot, oldSecret: options['old-secret'] };
}

/** A slot index given, or qemu's refusal (erase checks it after looking the old secret up, as qemu). */
export function checkIndex(keyslot: number): void {
  // (qemu 7.2 truncates a larger index to int and may act on another slot: refused here.)
  if (!(keyslot >= 0 && keyslot < SLOT_COUNT)) throw invalid(`Invalid keyslot ${keyslot} specified, must be between 0 and ${SLOT_COUNT - 1}`);
}
