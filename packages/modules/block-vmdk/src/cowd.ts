/**
 * VMDK3 "COWD" sparse extents (VMware Virtual Disk Format 1.1, "ESX Server 2.x sparse extent"):
 * the vmfsSparse (`VMFSSPARSE`) extents of ESX delta disks, and bare COWD disks. A 2048-byte
 * little-endian header (magic, version, flags, numSectors, grainSize, gdOffset, numGDEntries,
 * freeSector, then geometry or the parent's name, and names VMware keeps), one grain directory of
 * u32 sector offsets of grain tables, each table 4096 u32 sector offsets of grains (0: not
 * allocated). No redundant directory, no compression, no zeroed grains. The grain walk and
 * allocation are those of a hosted sparse extent, so this file only turns the header into that
 * extent's layout.
 */
import type { BlockNode } from '@tessera/core';
import type { Descriptor } from './descriptor.ts';
import { corrupt, unsupportedFeature } from './errors.ts';
import { readDirectory, type SparseLayout } from './grain-directory.ts';
import { MAX_GD_ENTRIES, MAX_GRAIN_SECTORS, SECTOR } from './sparse-header.ts';

export const COWD_MAGIC = 0x44574f43; // "COWD" read little-endian
/** Entries of every COWD grain table (the format fixes it; qemu too). */
export const COWD_GT_ENTRIES = 4096;

export function isCowdMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === COWD_MAGIC;
}

/**
 * The layout of a COWD extent that covers `sectors` guest sectors (its own numSectors when it is
 * the whole disk). Every field is checked before use: the grain size (1 sector to 1 MiB: qemu
 * takes up to 1 GiB, whole grains are held in memory here), the directory (inside the file, as many
 * entries as the sectors need: qemu opens a shorter one and fails the reads beyond it).
 */
export async function readCowdLayout(file: BlockNode, where: string, sectors?: number): Promise<SparseLayout> {
  if (file.size < SECTOR) throw corrupt(`Could not open '${where}': the file is shorter than a VMDK3 (COWD) header`);
  const head = new Uint8Array(SECTOR);
  await file.read(0, head);
  if (!isCowdMagic(head)) throw corrupt(`Could not open '${where}': not a VMDK3 sparse extent (no COWD magic)`);
  const view = new DataView(head.buffer);
  const capacity = view.getUint32(12, true);
  const grainSectors = view.getUint32(16, true);
  const gdOffset = view.getUint32(20, true);
  const gdEntries = view.getUint32(24, true);
  if (grainSectors < 1 || grainSectors > MAX_GRAIN_SECTORS) {
    throw corrupt(`Could not open '${where}': Invalid granularity ${grainSectors} sectors, image may be corrupt (a VMDK3 grain is 1 to ${MAX_GRAIN_SECTORS} sectors here)`);
  }
  const covered = sectors ?? capacity;
  const needed = Math.ceil(covered / (grainSectors * COWD_GT_ENTRIES));
  if (gdEntries > MAX_GD_ENTRIES) throw unsupportedFeature(`Could not open '${where}': L1 size too big (${gdEntries} grain directory entries; at most ${MAX_GD_ENTRIES})`);
  if (gdEntries < needed) {
    throw corrupt(`Could not open '${where}': the VMDK3 grain directory has ${gdEntries} entries, but ${covered} sectors in grains of ${grainSectors} need ${needed}`);
  }
  const gd = await readDirectory(file, gdOffset, gdEntries, where, 'grain directory');
  return {
    header: {
      version: 1,
      flags: 0,
      capacity,
      grainSectors,
      descriptorOffset: 0,
      descriptorSectors: 0,
      gtEntries: COWD_GT_ENTRIES,
      rgdOffset: 0,
      gdOffset,
      overheadSectors: 0,
      uncleanShutdown: false,
      compressAlgorithm: 0,
    },
    gdOffset,
    gd,
  };
}

/** qemu reads a descriptor's worth of text after the first sector of a bare sparse file. */
const QEMU_DESCRIPTOR_BYTES = 20 * SECTOR;

/**
 * What `info` reports of a bare COWD disk, which has no descriptor. qemu looks for `CID` and
 * `parentCID` in the text at byte 512 (up to its first NUL) as if a descriptor were there, and
 * cannot open the disk when there is none (the layout has the parent's file name there); its
 * create type is empty. This driver reads the same CIDs when the text has them and opens the disk
 * without them too, with no CID (ffffffff), as a sparse extent without a descriptor is reported.
 */
export async function bareCowdDescriptor(file: BlockNode): Promise<Descriptor> {
  const raw = new Uint8Array(Math.max(0, Math.min(QEMU_DESCRIPTOR_BYTES, file.size - SECTOR)));
  if (raw.length > 0) await file.read(SECTOR, raw);
  const end = raw.indexOf(0);
  const text = new TextDecoder('latin1').decode(end < 0 ? raw : raw.subarray(0, end));
  return { cid: cidAfter(text, 'CID'), parentCid: cidAfter(text, 'parentCID'), createType: '', extents: [], ddb: new Map() };
}

/** qemu's reading: the first occurrence of the key, one character skipped (`=`), then hexadecimal digits. */
function cidAfter(text: string, key: string): number {
  const at = text.indexOf(key);
  if (at < 0) return 0xffffffff;
  const digits = /^\s*(?:0[xX])?([0-9a-fA-F]+)/.exec(text.slice(at + key.length + 1));
  return digits ? Number(BigInt.asUintN(32, BigInt(`0x${digits[1]}`))) : 0xffffffff;
}
