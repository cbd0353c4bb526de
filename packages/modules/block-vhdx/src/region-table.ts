import type { BlockNode } from '@tessera/core';
import { crc32c } from './crc32c.ts';
import { corrupt, unsupported } from './errors.ts';
import { BAT_REGION, METADATA_REGION, sameGuid } from './guid.ts';
import { HEADER_SECTION_END, KiB, MiB } from './header.ts';

/** The region table (VHDX specification 2.3): where the BAT and the metadata live. */
export const REGION_TABLE_OFFSETS = [192 * KiB, 256 * KiB] as const;
export const REGION_TABLE_SIZE = 64 * KiB;
const SIGNATURE = 0x69676572; // "regi"
const MAX_ENTRIES = 2047;

export interface Region {
  readonly offset: number;
  readonly length: number;
}

export interface Regions {
  readonly bat: Region;
  readonly metadata: Region;
}

/**
 * Read the first valid region table (the two copies are the same; the second stands in for a
 * torn first) and find the BAT and metadata regions; an unknown region marked required is
 * refused, as the specification demands.
 */
export async function readRegions(file: BlockNode): Promise<Regions> {
  const name = file.filename;
  let failure = 'Invalid region table header';
  for (const at of REGION_TABLE_OFFSETS) {
    const bytes = new Uint8Array(REGION_TABLE_SIZE);
    await file.read(at, bytes);
    const view = new DataView(bytes.buffer);
    if (view.getUint32(0, true) !== SIGNATURE) continue;
    if (view.getUint32(4, true) !== crc32c(bytes, 4)) {
      failure = 'Invalid region table checksum';
      continue;
    }
    const count = view.getUint32(8, true);
    if (count > MAX_ENTRIES) throw corrupt(name, `Region table has ${count} entries (at most ${MAX_ENTRIES})`);
    let bat: Region | undefined;
    let metadata: Region | undefined;
    const seen: Region[] = [];
    for (let i = 0; i < count; i++) {
      const entry = 16 + i * 32;
      const guid = bytes.subarray(entry, entry + 16);
      const offsetBig = view.getBigUint64(entry + 16, true);
      const length = view.getUint32(entry + 24, true);
      const required = (view.getUint32(entry + 28, true) & 1) !== 0;
      // Regions are 1 MiB aligned, past the header section, inside the file, and do not overlap.
      if (offsetBig % BigInt(MiB) !== 0n || length % MiB !== 0 || offsetBig < BigInt(HEADER_SECTION_END) || offsetBig + BigInt(length) > BigInt(file.size)) {
        throw corrupt(name, `Region ${i} (offset ${offsetBig}, length ${length}) is not a 1 MiB aligned range inside the file's ${file.size} bytes`);
      }
      const region = { offset: Number(offsetBig), length };
      if (seen.some((other) => region.offset < other.offset + other.length && other.offset < region.offset + region.length)) {
        throw corrupt(name, `Region ${i} overlaps another region`);
      }
      seen.push(region);
      if (sameGuid(guid, BAT_REGION)) {
        if (bat) throw corrupt(name, 'Region table has two BAT regions');
        bat = region;
      } else if (sameGuid(guid, METADATA_REGION)) {
        if (metadata) throw corrupt(name, 'Region table has two metadata regions');
        metadata = region;
      } else if (required) throw unsupported(name, `Unsupported required region ${i} in the region table`);
    }
    if (!bat || !metadata) throw corrupt(name, 'Region table lacks the BAT or the metadata region');
    return { bat, metadata };
  }
  throw corrupt(name, failure);
}

/** A region table holding the BAT and metadata regions, both required. */
export function encodeRegionTable(regions: Regions): Uint8Array {
  const bytes = new Uint8Array(REGION_TABLE_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, SIGNATURE, true);
  view.setUint32(8, 2, true);
  [[BAT_REGION, regions.bat], [METADATA_REGION, regions.metadata]].forEach(([guid, region], i) => {
    const entry = 16 + i * 32;
    bytes.set(guid as Uint8Array, entry);
    view.setBigUint64(entry + 16, BigInt((region as Region).offset), true);
    view.setUint32(entry + 24, (region as Region).length, true);
    view.setUint32(entry + 28, 1, true);
  });
  view.setUint32(4, crc32c(bytes, 4), true);
  return bytes;
}
