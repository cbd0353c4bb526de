/**
 * Opening a VMDK image: a sparse extent file holding its own descriptor (monolithicSparse,
 * streamOptimized), or a descriptor file naming the extents, each opened relative to it.
 */
import type { BlockNode, BlockOpenOptions } from '@tessera/core';
import { bareCowdDescriptor, isCowdMagic, readCowdLayout } from './cowd.ts';
import { DESCRIPTOR_FILE_TYPES, MAX_DESCRIPTOR_BYTES, parseDescriptor, type Descriptor, type ExtentLine } from './descriptor.ts';
import { corrupt, unsupportedFeature, unsupportedOperation } from './errors.ts';
import type { Extent } from './extent.ts';
import { checkExtentPath } from './extent-path.ts';
import { FlatExtent, ZeroExtent } from './flat-extent.ts';
import { readSparseLayout, type SparseLayout } from './grain-directory.ts';
import { openSeSparse } from './sesparse-extent.ts';
import { isSeSparseMagic } from './sesparse-header.ts';
import { SparseExtent, type BackingRead } from './sparse-extent.ts';
import { FLAG_COMPRESSED, FLAG_MARKERS, SECTOR, isSparseMagic } from './sparse-header.ts';
import { StreamExtent } from './stream-extent.ts';

export interface OpenedVmdk {
  readonly descriptor: Descriptor;
  readonly extents: readonly Extent[];
  /** Files opened for the extents (closed with the image), besides the image's own file. */
  readonly extentFiles: readonly BlockNode[];
  readonly backing?: BlockNode;
}

export async function openVmdk(file: BlockNode, options: BlockOpenOptions): Promise<OpenedVmdk> {
  const where = file.filename;
  const head = new Uint8Array(Math.min(SECTOR, file.size));
  await file.read(0, head);
  if (isCowdMagic(head)) return openBareCowd(file, options);
  if (isSparseMagic(head)) return openMonolithic(file, options);
  if (isSeSparseMagic(head)) {
    throw corrupt(`Could not open '${where}': invalid VMDK image descriptor (this is a seSparse extent: open the descriptor file that names it)`);
  }
  return openDescriptorFile(file, options);
}

/** A VMDK3 (COWD) disk on its own: no descriptor, no backing file (see bareCowdDescriptor). */
async function openBareCowd(file: BlockNode, options: BlockOpenOptions): Promise<OpenedVmdk> {
  const layout = await readCowdLayout(file, file.filename);
  const descriptor = await bareCowdDescriptor(file);
  return { descriptor, extents: [new SparseExtent(file, layout, layout.header.capacity * SECTOR, !options.readOnly, '', undefined)], extentFiles: [] };
}

async function openMonolithic(file: BlockNode, options: BlockOpenOptions): Promise<OpenedVmdk> {
  const layout = await readSparseLayout(file, file.filename);
  const descriptor = await embeddedDescriptor(file, layout);
  const backing = await openBacking(descriptor, options);
  try {
    const length = layout.header.capacity * SECTOR;
    return { descriptor, extents: [sparseExtent(file, layout, length, !options.readOnly, '', backing, 0)], extentFiles: [], ...(backing ? { backing } : {}) };
  } catch (error) {
    await backing?.close();
    throw error;
  }
}

async function embeddedDescriptor(file: BlockNode, layout: SparseLayout): Promise<Descriptor> {
  const { descriptorOffset, descriptorSectors } = layout.header;
  if (descriptorOffset === 0) {
    return { cid: 0xffffffff, parentCid: 0xffffffff, createType: 'monolithicSparse', extents: [], ddb: new Map() };
  }
  const bytes = descriptorSectors * SECTOR;
  if (bytes > MAX_DESCRIPTOR_BYTES || descriptorOffset * SECTOR + bytes > file.size) {
    throw corrupt(`Could not open '${file.filename}': the embedded descriptor (sector ${descriptorOffset}, ${descriptorSectors} sectors) lies outside the file or is too large`);
  }
  const raw = new Uint8Array(bytes);
  await file.read(descriptorOffset * SECTOR, raw);
  const end = raw.indexOf(0);
  return parseDescriptor(new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end)), file.filename);
}

/** A stream created empty and opened for writing is written in one pass; otherwise it is read. */
function sparseExtent(file: BlockNode, layout: SparseLayout, length: number, writable: boolean, format: string, backing: BlockNode | undefined, start: number): Extent {
  const { header } = layout;
  const isStream = (header.flags & FLAG_COMPRESSED) !== 0 && (header.flags & FLAG_MARKERS) !== 0;
  if (isStream && writable && layout.gd.every((entry) => entry === 0)) return new StreamExtent(file, header, length);
  const read: BackingRead | undefined = backing ? (offset, into) => readBacking(backing, start + offset, into) : undefined;
  return new SparseExtent(file, layout, length, writable, format, read);
}

/** Bytes of the backing image; past its end, zeroes. */
async function readBacking(backing: BlockNode, offset: number, into: Uint8Array): Promise<void> {
  const available = Math.max(0, Math.min(into.length, backing.size - offset));
  if (available > 0) await backing.read(offset, into.subarray(0, available));
  into.fill(0, available);
}

async function openBacking(descriptor: Descriptor, options: BlockOpenOptions): Promise<BlockNode | undefined> {
  if (descriptor.parentCid === 0xffffffff || descriptor.parentFileNameHint === undefined) return undefined;
  if (!options.openRelative) throw unsupportedFeature(`the image has a backing file (${descriptor.parentFileNameHint}), which cannot be opened here`);
  return options.openRelative(descriptor.parentFileNameHint, { readOnly: true });
}

async function openDescriptorFile(file: BlockNode, options: BlockOpenOptions): Promise<OpenedVmdk> {
  const where = file.filename;
  if (file.size > MAX_DESCRIPTOR_BYTES) throw corrupt(`Could not open '${where}': File too large`);
  const raw = new Uint8Array(file.size);
  await file.read(0, raw);
  const descriptor = parseDescriptor(new TextDecoder().decode(raw), where);
  if (!DESCRIPTOR_FILE_TYPES.includes(descriptor.createType)) throw unsupportedFeature(`Could not open '${where}': Unsupported image type '${descriptor.createType}'`);
  if (descriptor.extents.length === 0) throw corrupt(`Could not open '${where}': the descriptor names no extent`);
  if (!options.openRelative) throw unsupportedFeature(`Could not open '${where}': its extents cannot be opened here`);
  const extentFiles: BlockNode[] = [];
  const extents: Extent[] = [];
  let backing: BlockNode | undefined;
  try {
    backing = await openBacking(descriptor, options);
    let start = 0;
    for (const line of descriptor.extents) {
      extents.push(await openExtent(line, where, options, extentFiles, backing, start));
      start += line.sectors * SECTOR;
    }
  } catch (error) {
    for (const opened of extentFiles) await opened.close().catch(() => undefined);
    await backing?.close().catch(() => undefined);
    throw error;
  }
  return { descriptor, extents, extentFiles, ...(backing ? { backing } : {}) };
}

async function openExtent(line: ExtentLine, where: string, options: BlockOpenOptions, opened: BlockNode[], backing: BlockNode | undefined, start: number): Promise<Extent> {
  const length = line.sectors * SECTOR;
  if (line.type === 'ZERO') return new ZeroExtent(length);
  if (line.access === 'NOACCESS') throw unsupportedFeature(`Could not open '${where}': extent '${line.fileName}' is NOACCESS`);
  if (line.type !== 'FLAT' && line.type !== 'VMFS' && line.type !== 'SPARSE' && line.type !== 'VMFSSPARSE' && line.type !== 'SESPARSE') {
    // VMFSRDM / VMFSRAW: raw device mappings, whose data is on an ESX LUN (qemu skips the line, shifting the extents after it).
    throw unsupportedFeature(`Could not open '${where}': ${line.type} extents (raw device mappings: the data is on the ESX host's LUN, not in a file) are not supported; copy the LUN's data and name it in a FLAT extent`);
  }
  // qemu has no write support for seSparse: the image cannot be opened for writing (its words).
  if (line.type === 'SESPARSE' && !options.readOnly) throw unsupportedOperation(`Could not open '${where}': No write support for seSparse images available`);
  const name = line.fileName!;
  checkExtentPath(name, where);
  const writable = !options.readOnly && line.access === 'RW';
  const file = await options.openRelative!(name, { readOnly: !writable, protocolOnly: true });
  opened.push(file);
  if (line.type === 'FLAT' || line.type === 'VMFS') return new FlatExtent(file, length, line.offset * SECTOR, writable, line.type);
  const read: BackingRead | undefined = backing ? (offset, into) => readBacking(backing, start + offset, into) : undefined;
  if (line.type === 'SESPARSE') return openSeSparse(file, length, where, read);
  // SPARSE and VMFSSPARSE extents are hosted (KDMV) or VMDK3 (COWD) sparse files alike, as qemu reads them.
  const head = new Uint8Array(Math.min(4, file.size));
  await file.read(0, head);
  if (isCowdMagic(head)) return new SparseExtent(file, await readCowdLayout(file, file.filename, line.sectors), length, writable, line.type, read);
  const layout = await readSparseLayout(file, file.filename);
  return sparseExtent(file, layout, length, writable, line.type, backing, start);
}
