/**
 * The signatures of every image format qemu-img 7.2 recognises by content, in one table: the
 * block layer probes with it (so an image in a format without a driver here is refused by name,
 * never read as raw), and a probed raw image's guard uses it to refuse writes that would make
 * the image look like another format.
 *
 * Written from the formats' published layouts and the behaviour of qemu-img 7.2's probes,
 * stricter where that is cheap: a fixed VHD's footer and a DMG's trailer are found in the last
 * sector (qemu probes neither), cloop needs its whole magic line, LUKS any version, bochs any
 * redolog subtype.
 */

/** qemu's probe buffer and the unit the guard protects: one sector. */
export const SIGNATURE_SECTOR = 512;

interface Signature {
  readonly format: string;
  readonly matches: (sector: Uint8Array) => boolean;
}

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));

function startsWith(sector: Uint8Array, bytes: Uint8Array, at = 0): boolean {
  if (sector.length < at + bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (sector[at + i] !== bytes[i]) return false;
  return true;
}

function be32(sector: Uint8Array, at: number): number | undefined {
  return sector.length >= at + 4 ? new DataView(sector.buffer, sector.byteOffset + at, 4).getUint32(0, false) : undefined;
}

function le32(sector: Uint8Array, at: number): number | undefined {
  return sector.length >= at + 4 ? new DataView(sector.buffer, sector.byteOffset + at, 4).getUint32(0, true) : undefined;
}

const QCOW_MAGIC = ascii('QFI\xfb');
const QED_MAGIC = ascii('QED\0');
const VMDK4_MAGIC = ascii('KDMV');
const VMDK3_MAGIC = ascii('COWD'); // VMware ESX "COWD" sparse extent
const VPC_COOKIE = ascii('conectix');
const VHDX_SIGNATURE = ascii('vhdxfile');
const PARALLELS_MAGICS = [ascii('WithoutFreeSpace'), ascii('WithouFreSpacExt')];
const LUKS_MAGIC = ascii('LUKS\xba\xbe');
const BOCHS_MAGIC = ascii('Bochs Virtual HD Image\0');
const BOCHS_REDOLOG = ascii('Redolog\0');
const CLOOP_MAGIC = ascii('#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n');
const VDI_SIGNATURE = 0xbeda107f;
const DMG_TRAILER = ascii('koly');

/**
 * VMware's text descriptor: comment lines and blank lines, then `version=1|2|3` on a line of its
 * own, as qemu's vmdk probe reads it.
 */
function isVmdkDescriptor(sector: Uint8Array): boolean {
  let at = 0;
  const end = sector.length;
  while (at < end) {
    const byte = sector[at]!;
    if (byte === 0x23 /* # */) {
      while (at < end && sector[at] !== 0x0a) at++;
      at++;
      continue;
    }
    if (byte === 0x20 /* space */ || byte === 0x0d || byte === 0x0a) {
      while (at < end && sector[at] === 0x20) at++;
      if (at < end && sector[at] === 0x0d) at++;
      if (at >= end || sector[at] !== 0x0a) return false; // only blank lines before version=
      at++;
      continue;
    }
    return /^version=[123]\r?\n/.test(String.fromCharCode(...sector.subarray(at, at + 11)));
  }
  return false;
}

/** Formats recognised by the first sector. */
const HEAD_SIGNATURES: readonly Signature[] = [
  { format: 'qcow2', matches: (s) => startsWith(s, QCOW_MAGIC) && (be32(s, 4) ?? 0) >= 2 },
  { format: 'qcow', matches: (s) => startsWith(s, QCOW_MAGIC) && be32(s, 4) === 1 },
  { format: 'qed', matches: (s) => startsWith(s, QED_MAGIC) },
  { format: 'vmdk', matches: (s) => startsWith(s, VMDK4_MAGIC) || startsWith(s, VMDK3_MAGIC) || isVmdkDescriptor(s) },
  { format: 'vdi', matches: (s) => le32(s, 0x40) === VDI_SIGNATURE },
  { format: 'vpc', matches: (s) => startsWith(s, VPC_COOKIE) },
  { format: 'vhdx', matches: (s) => startsWith(s, VHDX_SIGNATURE) },
  { format: 'parallels', matches: (s) => PARALLELS_MAGICS.some((m) => startsWith(s, m)) && le32(s, 16) === 2 },
  { format: 'luks', matches: (s) => startsWith(s, LUKS_MAGIC) },
  { format: 'bochs', matches: (s) => startsWith(s, BOCHS_MAGIC) && startsWith(s, BOCHS_REDOLOG, 32) },
  { format: 'cloop', matches: (s) => startsWith(s, CLOOP_MAGIC) },
];

/** Formats recognised by the last sector: a fixed VHD's footer, a DMG (UDIF) trailer. */
const TAIL_SIGNATURES: readonly Signature[] = [
  { format: 'vpc', matches: (s) => startsWith(s, VPC_COOKIE) },
  { format: 'dmg', matches: (s) => startsWith(s, DMG_TRAILER) },
];

/** The format whose signature the first sector of an image carries, if any. */
export function formatOfFirstSector(sector: Uint8Array): string | undefined {
  return HEAD_SIGNATURES.find((signature) => signature.matches(sector))?.format;
}

/** The format whose trailer the last sector of an image carries, if any. */
export function formatOfLastSector(sector: Uint8Array): string | undefined {
  return TAIL_SIGNATURES.find((signature) => signature.matches(sector))?.format;
}

/** qemu also takes a `.dmg` name for a DMG image (its dmg probe looks at nothing else). */
export function formatOfName(filename: string): string | undefined {
  return /.\.dmg$/.test(filename) ? 'dmg' : undefined;
}
