import type { BlockNode } from '@tessera/core';
import { corrupt, unsupported } from './errors.ts';
import { FILE_PARAMETERS, LOGICAL_SECTOR_SIZE, PARENT_LOCATOR, PHYSICAL_SECTOR_SIZE, VIRTUAL_DISK_ID, VIRTUAL_DISK_SIZE, sameGuid } from './guid.ts';
import { KiB, MiB } from './header.ts';
import { parseParentLocator } from './parent-locator.ts';
import type { Region } from './region-table.ts';

/** The metadata region (VHDX specification 2.6): a table of items, then the items. */
const SIGNATURE = 'metadata';
export const METADATA_TABLE_SIZE = 64 * KiB;
const MAX_ENTRIES = 2047;
const IS_REQUIRED = 4;
const IS_VIRTUAL_DISK = 2;

/** The largest disk VHDX allows (64 TiB). */
export const MAX_VIRTUAL_SIZE = 64 * 1024 * 1024 * MiB;

export interface VhdxMetadata {
  readonly blockSize: number;
  readonly leaveBlocksAllocated: boolean;
  readonly hasParent: boolean;
  readonly virtualSize: number;
  readonly logicalSectorSize: number;
  readonly physicalSectorSize: number;
  readonly diskId: Uint8Array;
  /** A differencing image's parent locator entries (`relative_path`, `parent_linkage`, …). */
  readonly parentLocator?: ReadonlyMap<string, string>;
}

const KNOWN = [FILE_PARAMETERS, VIRTUAL_DISK_SIZE, VIRTUAL_DISK_ID, LOGICAL_SECTOR_SIZE, PHYSICAL_SECTOR_SIZE, PARENT_LOCATOR];

export async function readMetadata(file: BlockNode, region: Region): Promise<VhdxMetadata> {
  const name = file.filename;
  // The region was checked to lie inside the file; only its table and items are read.
  if (region.length < METADATA_TABLE_SIZE) throw corrupt(name, 'The metadata region is smaller than its table');
  const table = new Uint8Array(METADATA_TABLE_SIZE);
  await file.read(region.offset, table);
  const view = new DataView(table.buffer);
  if (String.fromCharCode(...table.subarray(0, 8)) !== SIGNATURE) throw corrupt(name, 'Invalid metadata table signature');
  const count = view.getUint16(10, true);
  if (count > MAX_ENTRIES) throw corrupt(name, `Metadata table has ${count} entries (at most ${MAX_ENTRIES})`);
  const items = new Map<number, Uint8Array>();
  for (let i = 0; i < count; i++) {
    const entry = 32 + i * 32;
    const guid = table.subarray(entry, entry + 16);
    const offset = view.getUint32(entry + 16, true);
    const length = view.getUint32(entry + 20, true);
    const flags = view.getUint32(entry + 24, true);
    const known = KNOWN.findIndex((g) => sameGuid(g, guid));
    if (known < 0) {
      if (flags & IS_REQUIRED) throw unsupported(name, `Unsupported required metadata item ${i}`);
      continue;
    }
    if (items.has(known)) throw corrupt(name, `Metadata item ${i} appears twice`);
    // Items lie past the table, inside the region, and are small (a locator is at most 1 MiB).
    if (length > MiB || (length > 0 && (offset < METADATA_TABLE_SIZE || offset + length > region.length))) {
      throw corrupt(name, `Metadata item ${i} (offset ${offset}, length ${length}) is not inside the metadata region`);
    }
    const bytes = new Uint8Array(length);
    await file.read(region.offset + offset, bytes);
    items.set(known, bytes);
  }
  const item = (index: number, length: number, what: string): DataView => {
    const bytes = items.get(index);
    if (!bytes) throw corrupt(name, `The metadata lacks the ${what} item`);
    if (bytes.length < length) throw corrupt(name, `The ${what} metadata item is too short`);
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  };
  const parameters = item(0, 8, 'file parameters');
  const blockSize = parameters.getUint32(0, true);
  const parameterFlags = parameters.getUint32(4, true);
  const virtualSize = item(1, 8, 'virtual disk size').getBigUint64(0, true);
  const logicalSectorSize = item(3, 4, 'logical sector size').getUint32(0, true);
  const physicalSectorSize = item(4, 4, 'physical sector size').getUint32(0, true);
  const diskId = items.get(2)?.slice(0, 16) ?? new Uint8Array(16);

  if (blockSize < MiB || blockSize > 256 * MiB || (blockSize & (blockSize - 1)) !== 0) throw corrupt(name, `Invalid VHDX block size ${blockSize}`);
  if (logicalSectorSize !== 512 && logicalSectorSize !== 4096) throw corrupt(name, `Invalid logical sector size ${logicalSectorSize}`);
  if (physicalSectorSize !== 512 && physicalSectorSize !== 4096) throw corrupt(name, `Invalid physical sector size ${physicalSectorSize}`);
  if (virtualSize > BigInt(MAX_VIRTUAL_SIZE) || virtualSize % BigInt(logicalSectorSize) !== 0n) throw corrupt(name, `Invalid virtual disk size ${virtualSize}`);
  return {
    blockSize,
    leaveBlocksAllocated: (parameterFlags & 1) !== 0,
    hasParent: (parameterFlags & 2) !== 0,
    virtualSize: Number(virtualSize),
    logicalSectorSize,
    physicalSectorSize,
    diskId,
    ...((parameterFlags & 2) !== 0 && items.has(5) ? { parentLocator: parseParentLocator(items.get(5)!, name) } : {}),
  };
}

/** The metadata region qemu-img writes: the table and the five items of a disk without parent. */
export function encodeMetadata(metadata: VhdxMetadata): Uint8Array {
  const bytes = new Uint8Array(METADATA_TABLE_SIZE + KiB);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < 8; i++) bytes[i] = SIGNATURE.charCodeAt(i);
  const items: [Uint8Array, number, number][] = [
    [FILE_PARAMETERS, 8, IS_REQUIRED],
    [VIRTUAL_DISK_SIZE, 8, IS_REQUIRED | IS_VIRTUAL_DISK],
    [VIRTUAL_DISK_ID, 16, IS_REQUIRED | IS_VIRTUAL_DISK],
    [LOGICAL_SECTOR_SIZE, 4, IS_REQUIRED | IS_VIRTUAL_DISK],
    [PHYSICAL_SECTOR_SIZE, 4, IS_REQUIRED | IS_VIRTUAL_DISK],
  ];
  view.setUint16(10, items.length, true);
  let at = METADATA_TABLE_SIZE;
  items.forEach(([guid, length, flags], i) => {
    const entry = 32 + i * 32;
    bytes.set(guid, entry);
    view.setUint32(entry + 16, at, true);
    view.setUint32(entry + 20, length, true);
    view.setUint32(entry + 24, flags, true);
    at += length;
  });
  let item = METADATA_TABLE_SIZE;
  view.setUint32(item, metadata.blockSize, true);
  view.setUint32(item + 4, metadata.leaveBlocksAllocated ? 1 : 0, true);
  item += 8;
  view.setBigUint64(item, BigInt(metadata.virtualSize), true);
  item += 8;
  bytes.set(metadata.diskId, item);
  item += 16;
  view.setUint32(item, metadata.logicalSectorSize, true);
  view.setUint32(item + 4, metadata.physicalSectorSize, true);
  return bytes;
}
