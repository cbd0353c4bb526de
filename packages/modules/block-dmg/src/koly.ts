import type { BlockNode } from '@tessera/core';
import { codedError } from '@tessera/module-kit/coded-error';

/**
 * The UDIF trailer ("koly" block, 512 bytes) at the end of a DMG: where the data fork, the
 * resource fork and the XML property list are, and the guest size in sectors. Found as qemu finds
 * it: the magic in the last 515 bytes (an odd-sized file may end a little after it).
 */
export interface Koly {
  readonly offset: number;
  readonly dataForkOffset: number;
  readonly resourceForkOffset: number;
  readonly resourceForkLength: number;
  readonly xmlOffset: number;
  readonly xmlLength: number;
  readonly sectors: number;
}

export const KOLY_SIZE = 512;
const SEARCH = 515;

function corrupt(filename: string, what: string): Error {
  return codedError(`Could not open '${filename}': ${what}`, 'corrupt-image');
}

export async function readKoly(file: BlockNode): Promise<Koly> {
  const name = file.filename;
  if (file.size < 512) throw corrupt(name, 'dmg file must be at least 512 bytes long');
  const start = Math.max(0, file.size - SEARCH);
  const window = new Uint8Array(file.size - start);
  await file.read(start, window);
  let found = -1;
  for (let i = 0; i + 4 <= window.length; i++) {
    if (window[i] === 0x6b && window[i + 1] === 0x6f && window[i + 2] === 0x6c && window[i + 3] === 0x79) {
      found = start + i;
      break;
    }
  }
  if (found < 0) throw corrupt(name, 'Could not locate UDIF trailer in dmg file');
  // qemu reads fields up to 0x1f4; a trailer cut short by the end of the file is corrupt.
  const trailer = new Uint8Array(KOLY_SIZE);
  const available = Math.min(KOLY_SIZE, file.size - found);
  if (available < 0x1f4) throw corrupt(name, 'the UDIF trailer is cut short by the end of the file');
  await file.read(found, trailer.subarray(0, available));
  const view = new DataView(trailer.buffer);
  const u64 = (at: number, what: string): number => {
    const value = view.getBigUint64(at);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(name, `the UDIF trailer's ${what} (${value}) is out of range`);
    return Number(value);
  };
  const koly: Koly = {
    offset: found,
    dataForkOffset: u64(0x18, 'data fork offset'),
    resourceForkOffset: u64(0x28, 'resource fork offset'),
    resourceForkLength: u64(0x30, 'resource fork length'),
    xmlOffset: u64(0xd8, 'XML offset'),
    xmlLength: u64(0xe0, 'XML length'),
    sectors: u64(0x1ec, 'sector count'),
  };
  // qemu's checks: every region before the trailer.
  if (koly.dataForkOffset > found) throw corrupt(name, 'the data fork starts after the UDIF trailer');
  if (koly.resourceForkOffset >= found || koly.resourceForkLength > found - koly.resourceForkOffset) {
    throw corrupt(name, 'the resource fork lies outside the image');
  }
  if (koly.xmlOffset >= found || koly.xmlLength > found - koly.xmlOffset) throw corrupt(name, 'the XML property list lies outside the image');
  if (koly.sectors * 512 > Number.MAX_SAFE_INTEGER) throw corrupt(name, `the sector count ${koly.sectors} is out of range`);
  return koly;
}
