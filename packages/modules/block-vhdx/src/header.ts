import type { BlockNode } from '@tessera/core';
import { crc32c } from './crc32c.ts';
import { corrupt, unsupported } from './errors.ts';
import { sameGuid } from './guid.ts';

/** The header section (VHDX specification 2.2): the file identifier, two headers, two region tables. */
export const KiB = 1024;
export const MiB = 1024 * KiB;
export const HEADER_OFFSETS = [64 * KiB, 128 * KiB] as const;
export const HEADER_SIZE = 4 * KiB;
export const HEADER_SECTION_END = MiB;
const SIGNATURE = 0x64616568; // "head"

export interface VhdxHeader {
  readonly sequenceNumber: bigint;
  readonly fileWriteGuid: Uint8Array;
  readonly dataWriteGuid: Uint8Array;
  readonly logGuid: Uint8Array;
  readonly logVersion: number;
  readonly version: number;
  readonly logLength: number;
  readonly logOffset: bigint;
}

export function decodeHeader(bytes: Uint8Array): VhdxHeader | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  if (view.getUint32(0, true) !== SIGNATURE) return undefined;
  if (view.getUint32(4, true) !== crc32c(bytes.subarray(0, HEADER_SIZE), 4)) return undefined;
  return {
    sequenceNumber: view.getBigUint64(8, true),
    fileWriteGuid: bytes.slice(16, 32),
    dataWriteGuid: bytes.slice(32, 48),
    logGuid: bytes.slice(48, 64),
    logVersion: view.getUint16(64, true),
    version: view.getUint16(66, true),
    logLength: view.getUint32(68, true),
    logOffset: view.getBigUint64(72, true),
  };
}

export function encodeHeader(header: VhdxHeader): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, SIGNATURE, true);
  view.setBigUint64(8, header.sequenceNumber, true);
  bytes.set(header.fileWriteGuid, 16);
  bytes.set(header.dataWriteGuid, 32);
  bytes.set(header.logGuid, 48);
  view.setUint16(64, header.logVersion, true);
  view.setUint16(66, header.version, true);
  view.setUint32(68, header.logLength, true);
  view.setBigUint64(72, header.logOffset, true);
  view.setUint32(4, crc32c(bytes, 4), true);
  return bytes;
}

/** The file type identifier at offset 0: "vhdxfile" and the creator's name in UTF-16. */
export function encodeIdentifier(creator: string): Uint8Array {
  const bytes = new Uint8Array(64 * KiB);
  for (let i = 0; i < 8; i++) bytes[i] = 'vhdxfile'.charCodeAt(i);
  for (let i = 0; i < Math.min(creator.length, 255); i++) new DataView(bytes.buffer).setUint16(8 + i * 2, creator.charCodeAt(i), true);
  return bytes;
}

/** Which header is current and the other slot, where the next update goes. */
export interface CurrentHeader {
  readonly header: VhdxHeader;
  readonly slot: 0 | 1;
}

/**
 * The current header: of the two, the valid one with the higher sequence number (two identical
 * headers, as Disk2vhd writes, are one). qemu's messages for no valid header and for two valid
 * headers that disagree on the same sequence number.
 */
export async function readCurrentHeader(file: BlockNode): Promise<CurrentHeader> {
  const name = file.filename;
  if (file.size < HEADER_SECTION_END) throw corrupt(name, 'Could not open VHDX file: the file is smaller than its header section (1 MiB)');
  const identifier = new Uint8Array(8);
  await file.read(0, identifier);
  if (String.fromCharCode(...identifier) !== 'vhdxfile') throw corrupt(name, 'Could not open VHDX file: no file identifier (vhdxfile)');
  const raw = await Promise.all(HEADER_OFFSETS.map(async (at) => {
    const bytes = new Uint8Array(HEADER_SIZE);
    await file.read(at, bytes);
    return bytes;
  }));
  const [h1, h2] = raw.map(decodeHeader);
  let current: CurrentHeader;
  if (h1 && h2) {
    if (h1.sequenceNumber > h2.sequenceNumber) current = { header: h1, slot: 0 };
    else if (h2.sequenceNumber > h1.sequenceNumber) current = { header: h2, slot: 1 };
    else if (raw[0]!.every((byte, i) => byte === raw[1]![i])) current = { header: h1, slot: 0 };
    else throw corrupt(name, 'No valid VHDX header found');
  } else if (h1) current = { header: h1, slot: 0 };
  else if (h2) current = { header: h2, slot: 1 };
  else throw corrupt(name, 'No valid VHDX header found');
  if (current.header.version !== 1) throw unsupported(name, `VHDX version ${current.header.version} is not supported (only version 1)`);
  if (current.header.logVersion !== 0) throw unsupported(name, `VHDX log version ${current.header.logVersion} is not supported (only version 0)`);
  return current;
}

export const sameHeaderGuid = sameGuid;
