// The `amend -o` keys of a LUKS header's key slots (qemu's QCryptoBlockAmendOptionsLUKS), declared
// once for block-luks (no prefix) and block-qcow2 (`encrypt.`), which must list them in `-o help`
// without loading block-luks.
import type { BlockOptionSpec } from '@tessera/core';

export function luksAmendOptions(prefix = ''): BlockOptionSpec[] {
  return [
    { name: `${prefix}iter-time`, type: 'num', description: 'Time to spend in PBKDF in milliseconds' },
    { name: `${prefix}keyslot`, type: 'num', description: 'Select a single keyslot to modify explicitly' },
    { name: `${prefix}new-secret`, type: 'str', description: 'New secret to set in the matching keyslots. Empty string to erase' },
    { name: `${prefix}old-secret`, type: 'str', description: 'Select all keyslots that match this password' },
    { name: `${prefix}state`, type: 'str', description: 'Select new state of affected keyslots (active/inactive)' },
  ];
}
