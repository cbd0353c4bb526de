/**
 * Finding a sparse extent's grain directory and reading it, distrusting every field: the GD
 * (and, for GD_AT_END streams, the footer) must lie inside the file, and its size is bounded
 * before anything is allocated.
 */
import type { BlockNode } from '@tessera/core';
import { corrupt, unsupportedFeature } from './errors.ts';
import { MARKER_FOOTER } from './grain-codec.ts';
import { FLAG_MARKERS, FLAG_REDUNDANT_GD, MAX_GD_ENTRIES, SECTOR, gdEntriesFor, parseSparseHeader, type SparseHeader } from './sparse-header.ts';

export interface SparseLayout {
  readonly header: SparseHeader;
  readonly gdOffset: number;
  readonly gd: Uint32Array;
  /** The redundant directory, when the header names one (written alongside, never read for data). */
  readonly rgd?: Uint32Array;
}

/** Read the header (the footer's, for GD_AT_END), the grain directory and the redundant one. */
export async function readSparseLayout(file: BlockNode, where: string): Promise<SparseLayout> {
  if (file.size < SECTOR) throw corrupt(`Could not open '${where}': the file is shorter than a VMDK header`);
  const first = new Uint8Array(SECTOR);
  await file.read(0, first);
  let header = parseSparseHeader(first, where);
  if (header.gdOffset === undefined) header = await readFooter(file, header, where);
  const gdOffset = header.gdOffset!;
  const entries = gdEntriesFor(header);
  if (entries > MAX_GD_ENTRIES) throw unsupportedFeature(`Could not open '${where}': L1 size too big (${entries} grain directory entries; at most ${MAX_GD_ENTRIES})`);
  const gd = await readDirectory(file, gdOffset, entries, where, 'grain directory');
  const rgd = header.flags & FLAG_REDUNDANT_GD && header.rgdOffset > 0 ? await readDirectory(file, header.rgdOffset, entries, where, 'redundant grain directory') : undefined;
  return { header, gdOffset, gd, ...(rgd ? { rgd } : {}) };
}

/**
 * A stream written in one pass ends with: footer marker, footer (a header whose gdOffset is
 * filled in), end-of-stream marker. qemu reads the footer at the same place.
 */
async function readFooter(file: BlockNode, header: SparseHeader, where: string): Promise<SparseHeader> {
  if (!(header.flags & FLAG_MARKERS) || file.size < 4 * SECTOR) throw corrupt(`Could not open '${where}': the grain directory is at the end of the file, but there is no footer`);
  const tail = new Uint8Array(3 * SECTOR);
  await file.read(file.size - 3 * SECTOR, tail);
  const marker = new DataView(tail.buffer, 0, SECTOR);
  const eos = new DataView(tail.buffer, 2 * SECTOR, SECTOR);
  if (marker.getUint32(12, true) !== MARKER_FOOTER || marker.getUint32(8, true) !== 0 || eos.getBigUint64(0, true) !== 0n || eos.getUint32(12, true) !== 0) {
    throw corrupt(`Could not open '${where}': Invalid footer`);
  }
  const footer = parseSparseHeader(tail.subarray(SECTOR, 2 * SECTOR), where);
  if (footer.gdOffset === undefined) throw corrupt(`Could not open '${where}': Invalid footer (its grain directory offset is missing too)`);
  if (footer.capacity !== header.capacity || footer.grainSectors !== header.grainSectors || footer.gtEntries !== header.gtEntries) {
    throw corrupt(`Could not open '${where}': Invalid footer (it disagrees with the header)`);
  }
  return footer;
}

/** A grain directory of `entries` u32 entries at `sector`, which must lie inside the file after its first sector. */
export async function readDirectory(file: BlockNode, sector: number, entries: number, where: string, what: string): Promise<Uint32Array> {
  const start = sector * SECTOR;
  const bytes = entries * 4;
  if (start < SECTOR || start + bytes > file.size) throw corrupt(`Could not open '${where}': the ${what} (sector ${sector}, ${entries} entries) lies outside the file`);
  const raw = new Uint8Array(bytes);
  await file.read(start, raw);
  return decodeEntries(raw);
}

/** Little-endian u32 entries. */
export function decodeEntries(raw: Uint8Array): Uint32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Uint32Array(raw.byteLength >>> 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, true);
  return out;
}

export function encodeEntries(entries: Uint32Array): Uint8Array {
  const raw = new Uint8Array(entries.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < entries.length; i++) view.setUint32(i * 4, entries[i]!, true);
  return raw;
}
