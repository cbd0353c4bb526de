import type { BlockCreateOptions, BlockNode } from '@tessera/core';
import { PAYLOAD_FULLY_PRESENT, PAYLOAD_ZERO, batGeometry, makeEntry, payloadIndex } from './bat.ts';
import { codedError } from './errors.ts';
import { randomGuid } from './guid.ts';
import { HEADER_OFFSETS, HEADER_SECTION_END, MiB, encodeHeader, encodeIdentifier } from './header.ts';
import { MAX_VIRTUAL_SIZE, encodeMetadata } from './metadata.ts';
import { REGION_TABLE_OFFSETS, encodeRegionTable } from './region-table.ts';

export interface VhdxCreateSettings {
  readonly fixed: boolean;
  readonly blockSize: number;
  readonly logSize: number;
  readonly zeroBlocks: boolean;
}

const invalid = (message: string): Error => codedError(message, 'invalid-option');
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;
const roundUp = (value: number, unit: number): number => Math.ceil(value / unit) * unit;

function sizeOption(options: Readonly<Record<string, string>>, name: string, fallback: number): number {
  const text = options[name];
  if (text === undefined) return fallback;
  // The tool passes sizes as byte counts; a suffix is accepted for direct callers.
  const match = /^(\d+)([kKmMgGtT]?)$/.exec(text.trim());
  if (!match) throw invalid(`Parameter '${name}' expects a non-negative number below 2^64`);
  const scale = { '': 1, k: 1024, m: MiB, g: GiB, t: TiB }[match[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Number(match[1]) * scale;
}

function boolOption(options: Readonly<Record<string, string>>, name: string, fallback: boolean): boolean {
  const text = options[name];
  if (text === undefined) return fallback;
  if (text === 'on') return true;
  if (text === 'off') return false;
  throw invalid(`Parameter '${name}' expects 'on' or 'off'`);
}

/** The `-o` options and the size, checked and completed as qemu-img 7.2 does, with its messages. */
export function parseCreateOptions(size: number, options: Readonly<Record<string, string>>): VhdxCreateSettings {
  const subformat = options.subformat ?? 'dynamic';
  if (subformat !== 'dynamic' && subformat !== 'fixed') throw invalid(`Parameter 'subformat' does not accept value '${subformat}'`);
  if (size > MAX_VIRTUAL_SIZE) throw invalid('Image size too large; max of 64TB');
  const logSize = roundUp(sizeOption(options, 'log_size', MiB), MiB);
  if (logSize === 0) throw invalid('Log size must be a multiple of 1 MB');
  if (logSize >= 4 * GiB) throw invalid('Log size must be smaller than 4 GB');
  let blockSize = roundUp(sizeOption(options, 'block_size', 0), MiB);
  // Unset: qemu's choice by disk size.
  if (blockSize === 0) blockSize = size > 32 * TiB ? 64 * MiB : size > 100 * GiB ? 32 * MiB : size > GiB ? 16 * MiB : 8 * MiB;
  blockSize = Math.min(Math.max(blockSize, MiB), 256 * MiB);
  if ((blockSize & (blockSize - 1)) !== 0) throw invalid('Block size must be a power of two');
  return { fixed: subformat === 'fixed', blockSize, logSize, zeroBlocks: boolOption(options, 'block_state_zero', true) };
}

/**
 * Lay out a new image as qemu-img does: identifier, two headers, two region tables, the log at
 * 1 MiB, the BAT after it, the metadata after the BAT, and the data 5 MiB past the metadata's
 * start. A dynamic image's blocks are all zero blocks (block_state_zero=on) or not present; a
 * fixed image's are zero blocks too unless block_state_zero=off, when they are present in order.
 */
export async function createImage(file: BlockNode, { size: requested, formatOptions }: BlockCreateOptions): Promise<void> {
  const size = roundUp(requested, 512);
  const settings = parseCreateOptions(size, formatOptions);
  const geometry = batGeometry(size, settings.blockSize, 512, false);
  const logOffset = HEADER_SECTION_END;
  const batOffset = roundUp(logOffset + settings.logSize, MiB);
  const batLength = roundUp(Math.max(geometry.entries * 8, 1), MiB);
  const metadataOffset = batOffset + batLength;
  const dataOffset = metadataOffset + 5 * MiB;

  const bat = new Uint8Array(batLength);
  const batView = new DataView(bat.buffer);
  if (settings.zeroBlocks || settings.fixed) {
    for (let block = 0; block < geometry.payloadBlocks; block++) {
      const entry = settings.zeroBlocks ? makeEntry(PAYLOAD_ZERO, 0) : makeEntry(PAYLOAD_FULLY_PRESENT, dataOffset + block * settings.blockSize);
      batView.setBigUint64(payloadIndex(geometry, block) * 8, entry, true);
    }
  }
  const header = {
    sequenceNumber: 0n,
    fileWriteGuid: randomGuid(),
    dataWriteGuid: randomGuid(),
    logGuid: new Uint8Array(16),
    logVersion: 0,
    version: 1,
    logLength: settings.logSize,
    logOffset: BigInt(logOffset),
  };
  const regions = encodeRegionTable({ bat: { offset: batOffset, length: batLength }, metadata: { offset: metadataOffset, length: MiB } });
  const metadata = encodeMetadata({
    blockSize: settings.blockSize,
    leaveBlocksAllocated: settings.fixed,
    hasParent: false,
    virtualSize: size,
    logicalSectorSize: 512,
    physicalSectorSize: 512,
    diskId: randomGuid(),
  });
  // The file is sized first (the data stays a hole), then filled from the end, the headers last:
  // an interrupted creation leaves no valid header.
  if (file.resize) await file.resize(settings.fixed ? dataOffset + size : dataOffset, { shrink: false });
  await file.write(metadataOffset, metadata);
  await file.write(batOffset, bat);
  for (const at of REGION_TABLE_OFFSETS) await file.write(at, regions);
  await file.write(0, encodeIdentifier('tessera-img'));
  await file.write(HEADER_OFFSETS[0], encodeHeader(header));
  await file.write(HEADER_OFFSETS[1], encodeHeader({ ...header, sequenceNumber: 1n }));
  await file.flush();
}
