// The pieces of a VMDK created here that more than one subformat shares: a hosted sparse extent's
// layout and the descriptor text, as qemu-img writes them.
import type { BlockNode } from '@tessera/core';
import { formatDescriptor, type DescriptorFields } from './descriptor.ts';
import { encodeEntries } from './grain-directory.ts';
import type { VmdkCreateSettings } from './options.ts';
import { FLAG_NEWLINE_DETECT, FLAG_REDUNDANT_GD, FLAG_ZERO_GRAIN, SECTOR, encodeSparseHeader, type HeaderFields } from './sparse-header.ts';

export const GRAIN_SECTORS = 128; // 64 KiB, as qemu and VMware create
export const GT_ENTRIES = 512;
export const DESCRIPTOR_SECTORS = 20;
/** Largest capacity of a sparse extent (qemu: 2 TiB minus one grain... VMware: 2 TiB). */
export const MAX_SPARSE_BYTES = 2 ** 41;

/**
 * A hosted sparse extent in qemu-img's layout: header, descriptor area (the descriptor of a
 * monolithicSparse image; empty in an extent a descriptor file names), redundant and primary
 * grain directories with all their grain tables, data from the next grain boundary.
 */
export async function writeSparseExtent(file: BlockNode, capacity: number, settings: VmdkCreateSettings, descriptorBytes: Uint8Array): Promise<void> {
  const gdEntries = Math.ceil(capacity / (GRAIN_SECTORS * GT_ENTRIES));
  const gdSectors = Math.ceil((gdEntries * 4) / SECTOR);
  const gtSectors = (GT_ENTRIES * 4) / SECTOR;
  const rgdOffset = 1 + DESCRIPTOR_SECTORS;
  const rgtStart = rgdOffset + gdSectors;
  const gdOffset = rgtStart + gdEntries * gtSectors;
  const gtStart = gdOffset + gdSectors;
  const overhead = alignUp(gtStart + gdEntries * gtSectors, GRAIN_SECTORS);
  const header = encodeSparseHeader({
    ...headerBase(capacity, 0),
    version: settings.zeroedGrain ? 2 : 1,
    flags: FLAG_NEWLINE_DETECT | FLAG_REDUNDANT_GD | (settings.zeroedGrain ? FLAG_ZERO_GRAIN : 0),
    rgdOffset,
    gdOffset,
    overheadSectors: overhead,
  });
  const directory = (firstTable: number) => padTo(encodeEntries(Uint32Array.from({ length: gdEntries }, (_, i) => firstTable + i * gtSectors)), gdSectors * SECTOR);
  await file.write(0, concat(header, padTo(descriptorBytes, DESCRIPTOR_SECTORS * SECTOR), directory(rgtStart)));
  await file.write(gdOffset * SECTOR, directory(gtStart));
  // The tables are zeroes: the file is extended over them (a hole where the file system allows).
  await file.write((overhead - 1) * SECTOR, new Uint8Array(SECTOR));
}

export function headerBase(capacity: number, compressAlgorithm: number): Omit<HeaderFields, 'rgdOffset' | 'gdOffset' | 'overheadSectors' | 'flags' | 'version'> {
  return { capacity, grainSectors: GRAIN_SECTORS, descriptorOffset: 1, descriptorSectors: DESCRIPTOR_SECTORS, gtEntries: GT_ENTRIES, compressAlgorithm };
}

export interface Parent {
  readonly cid: number;
  readonly fileNameHint: string;
}

/** The descriptor qemu-img writes: a new random CID, the parent's CID (or none), the geometry of the adapter. */
export function descriptorFor(capacity: number, settings: VmdkCreateSettings, extents: DescriptorFields['extents'], parent: Parent | undefined): string {
  const heads = settings.adapterType === 'ide' ? 16 : 255;
  const cylinders = Math.min(Math.floor(capacity / (heads * 63)), 16383);
  return formatDescriptor({
    cid: randomCid(),
    parentCid: parent?.cid ?? 0xffffffff,
    ...(parent ? { parentFileNameHint: parent.fileNameHint } : {}),
    createType: settings.subformat,
    extents,
    ddb: [
      ['virtualHWVersion', settings.hwVersion],
      ['geometry.cylinders', String(cylinders)],
      ['geometry.heads', String(heads)],
      ['geometry.sectors', '63'],
      ['adapterType', settings.adapterType],
      ['toolsVersion', settings.toolsVersion],
    ],
  });
}

function randomCid(): number {
  return Math.floor(Math.random() * 0xfffffffe);
}

export const alignUp = (value: number, to: number) => Math.ceil(value / to) * to;

export function padTo(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(bytes.subarray(0, length));
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}
