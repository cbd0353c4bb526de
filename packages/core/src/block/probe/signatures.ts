/**
 * The signatures the block layer probes with: those of the format modules on the executable's
 * list and of the tree's other format modules (compiled into the list by tools/module-list), and
 * core's own table for the formats no module provides. Together they cover every format qemu-img
 * 7.2 recognises by content, so an image in a format without a driver here is refused by name,
 * never read as raw, and a probed raw image's guard refuses writes that would make it look like
 * any of them.
 *
 * Written from the formats' published layouts and the behaviour of qemu-img 7.2's probes,
 * stricter where that is cheap: a fixed VHD's footer and a DMG's trailer are found in the last
 * sector (qemu probes neither), cloop needs its whole magic line, LUKS any version, bochs any
 * redolog subtype.
 */
import type { ModuleList } from '../../module/types.ts';
import { SignatureTable, type FormatSignature } from './signature-form.ts';
import unprovided from './unprovided-signatures.json' with { type: 'json' };

export { SIGNATURE_SECTOR, SignatureTable, type FormatSignature } from './signature-form.ts';

/** Core's table: the formats qemu-img probes that no module package of the tree provides (the build checks it). */
export const UNPROVIDED_SIGNATURES: readonly FormatSignature[] = unprovided as readonly FormatSignature[];

/** Every signature an executable knows: its list's, and core's for the formats no module provides. */
export function signatureTable(list: Pick<ModuleList, 'modules' | 'unlistedSignatures'>): SignatureTable {
  return new SignatureTable([
    ...list.modules.flatMap((m) => m.signatures ?? []),
    ...(list.unlistedSignatures ?? []),
    ...UNPROVIDED_SIGNATURES,
  ]);
}
