/**
 * Creating single-file VMDK images: monolithicSparse in qemu-img's layout (header, embedded
 * descriptor, redundant and primary grain directories with all their grain tables, data after),
 * and streamOptimized in VMware's one-pass stream layout (header with GD_AT_END, descriptor,
 * then at first only the empty directory, footer and end-of-stream marker; writes then replace
 * that tail, see stream-extent.ts).
 */
import type { BlockNode } from '@tessera/core';
import { formatDescriptor } from './descriptor.ts';
import { invalidOption, unsupportedOperation } from './errors.ts';
import { MARKER_EOS, MARKER_FOOTER, MARKER_GD, metadataMarker } from './grain-codec.ts';
import { encodeEntries } from './grain-directory.ts';
import type { VmdkCreateSettings } from './options.ts';
import {
  COMPRESSION_DEFLATE,
  FLAG_COMPRESSED,
  FLAG_MARKERS,
  FLAG_NEWLINE_DETECT,
  FLAG_REDUNDANT_GD,
  FLAG_ZERO_GRAIN,
  SECTOR,
  encodeSparseHeader,
  type HeaderFields,
} from './sparse-header.ts';

const GRAIN_SECTORS = 128; // 64 KiB, as qemu and VMware create
const GT_ENTRIES = 512;
const DESCRIPTOR_SECTORS = 20;
/** Largest capacity of a sparse extent (qemu: 2 TiB minus one grain... VMware: 2 TiB). */
const MAX_SPARSE_BYTES = 2 ** 41;

export async function createVmdk(file: BlockNode, size: number, settings: VmdkCreateSettings): Promise<void> {
  if (settings.subformat !== 'monolithicSparse' && settings.subformat !== 'streamOptimized') {
    throw unsupportedOperation(
      `creating a ${settings.subformat} image needs extent files beside the descriptor, which this driver cannot create yet; ` +
        `create monolithicSparse or streamOptimized, or create with qemu-img (it reads here)`,
    );
  }
  const capacity = Math.ceil(size / SECTOR);
  if (capacity * SECTOR > MAX_SPARSE_BYTES) throw invalidOption(`Could not create '${file.filename}': a VMDK sparse extent holds at most 2 TiB`);
  const stream = settings.subformat === 'streamOptimized';
  const gdEntries = Math.ceil(capacity / (GRAIN_SECTORS * GT_ENTRIES));
  const gdSectors = Math.ceil((gdEntries * 4) / SECTOR);
  const gtSectors = (GT_ENTRIES * 4) / SECTOR;
  const descriptor = descriptorFor(file, capacity, settings);
  const descriptorBytes = new TextEncoder().encode(descriptor);
  if (descriptorBytes.length > DESCRIPTOR_SECTORS * SECTOR) throw invalidOption(`Could not create '${file.filename}': the descriptor does not fit in ${DESCRIPTOR_SECTORS} sectors`);
  const descriptorEnd = 1 + DESCRIPTOR_SECTORS;
  const base: Omit<HeaderFields, 'rgdOffset' | 'gdOffset' | 'overheadSectors' | 'flags' | 'version'> = {
    capacity,
    grainSectors: GRAIN_SECTORS,
    descriptorOffset: 1,
    descriptorSectors: DESCRIPTOR_SECTORS,
    gtEntries: GT_ENTRIES,
    compressAlgorithm: stream ? COMPRESSION_DEFLATE : 0,
  };
  const zeroFlag = settings.zeroedGrain ? FLAG_ZERO_GRAIN : 0;
  if (stream) {
    const overhead = alignUp(descriptorEnd, GRAIN_SECTORS);
    const header = { ...base, version: 3, flags: FLAG_NEWLINE_DETECT | FLAG_COMPRESSED | FLAG_MARKERS | zeroFlag, rgdOffset: 0, overheadSectors: overhead };
    await file.write(0, concat(encodeSparseHeader({ ...header, gdOffset: undefined }), padTo(descriptorBytes, DESCRIPTOR_SECTORS * SECTOR)));
    // The tail of an empty stream: no grains, no tables.
    const gd = padTo(encodeEntries(new Uint32Array(gdEntries)), gdSectors * SECTOR);
    const gdSector = overhead + 1;
    await file.write(
      overhead * SECTOR,
      concat(
        metadataMarker(MARKER_GD, gdSectors),
        gd,
        metadataMarker(MARKER_FOOTER, 1),
        encodeSparseHeader({ ...header, gdOffset: gdSector }),
        metadataMarker(MARKER_EOS, 0),
      ),
    );
    return;
  }
  // qemu's order: redundant directory, its tables, the directory, its tables, data from the next grain boundary.
  const rgdOffset = descriptorEnd;
  const rgtStart = rgdOffset + gdSectors;
  const gdOffset = rgtStart + gdEntries * gtSectors;
  const gtStart = gdOffset + gdSectors;
  const overhead = alignUp(gtStart + gdEntries * gtSectors, GRAIN_SECTORS);
  const header = encodeSparseHeader({
    ...base,
    version: settings.zeroedGrain ? 2 : 1,
    flags: FLAG_NEWLINE_DETECT | FLAG_REDUNDANT_GD | zeroFlag,
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

function descriptorFor(file: BlockNode, capacity: number, settings: VmdkCreateSettings): string {
  const heads = settings.adapterType === 'ide' ? 16 : 255;
  const cylinders = Math.min(Math.floor(capacity / (heads * 63)), 16383);
  const name = file.filename.slice(file.filename.lastIndexOf('/') + 1);
  return formatDescriptor({
    cid: randomCid(),
    parentCid: 0xffffffff,
    createType: settings.subformat,
    extents: [{ access: 'RW', sectors: capacity, type: 'SPARSE', fileName: name, offset: 0 }],
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

const alignUp = (value: number, to: number) => Math.ceil(value / to) * to;

function padTo(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(bytes.subarray(0, length));
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}
