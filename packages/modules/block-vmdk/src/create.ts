/**
 * Creating VMDK images. Single-file ones here: monolithicSparse in qemu-img's layout (header, embedded
 * descriptor, redundant and primary grain directories with all their grain tables, data after),
 * and streamOptimized in VMware's one-pass stream layout (header with GD_AT_END, descriptor,
 * then at first only the empty directory, footer and end-of-stream marker; writes then replace
 * that tail, see stream-extent.ts).
 */
import type { BlockCreateOptions, BlockNode } from '@tessera/core';
import { DESCRIPTOR_SECTORS, GRAIN_SECTORS, GT_ENTRIES, MAX_SPARSE_BYTES, alignUp, concat, descriptorFor, headerBase, padTo, writeSparseExtent, type Parent } from './create-layout.ts';
import { createWithExtentFiles } from './create-split.ts';
import { invalidOption, unsupportedOperation } from './errors.ts';
import { MARKER_EOS, MARKER_FOOTER, MARKER_GD, metadataMarker } from './grain-codec.ts';
import { encodeEntries } from './grain-directory.ts';
import type { VmdkCreateSettings } from './options.ts';
import { COMPRESSION_DEFLATE, FLAG_COMPRESSED, FLAG_MARKERS, FLAG_NEWLINE_DETECT, FLAG_ZERO_GRAIN, SECTOR, encodeSparseHeader } from './sparse-header.ts';

/** What create may do beyond writing its one file: make and open files beside it, open the parent. */
export interface CreateContext {
  readonly createRelative?: BlockCreateOptions['createRelative'];
  readonly openRelative?: BlockCreateOptions['openRelative'];
}

export async function createVmdk(file: BlockNode, size: number, settings: VmdkCreateSettings, context: CreateContext = {}): Promise<void> {
  const capacity = Math.ceil(size / SECTOR);
  const parent = await parentOf(file, settings, context);
  if (settings.subformat !== 'monolithicSparse' && settings.subformat !== 'streamOptimized') {
    await createWithExtentFiles(file, capacity, settings, parent, context);
    return;
  }
  if (capacity * SECTOR > MAX_SPARSE_BYTES) throw invalidOption(`Could not create '${file.filename}': a VMDK sparse extent holds at most 2 TiB`);
  const name = file.filename.slice(file.filename.lastIndexOf('/') + 1);
  const descriptor = descriptorFor(capacity, settings, [{ access: 'RW', sectors: capacity, type: 'SPARSE', fileName: name, offset: 0 }], parent);
  const descriptorBytes = new TextEncoder().encode(descriptor);
  if (descriptorBytes.length > DESCRIPTOR_SECTORS * SECTOR) throw invalidOption(`Could not create '${file.filename}': the descriptor does not fit in ${DESCRIPTOR_SECTORS} sectors`);
  if (settings.subformat === 'streamOptimized') await writeStreamExtent(file, capacity, settings, descriptorBytes);
  else await writeSparseExtent(file, capacity, settings, descriptorBytes);
}

/** The parent a child records (its CID and the name it was given), read from the opened parent as qemu does. */
async function parentOf(file: BlockNode, settings: VmdkCreateSettings, context: CreateContext): Promise<Parent | undefined> {
  if (settings.backingFile === undefined) return undefined;
  if (settings.subformat === 'monolithicFlat' || settings.subformat === 'twoGbMaxExtentFlat') throw invalidOption("Flat image can't have backing file");
  if (!context.openRelative) throw unsupportedOperation('the backing file cannot be opened here to read its CID');
  const backing = await context.openRelative(settings.backingFile, { readOnly: true, ...(settings.backingFormat ? { format: settings.backingFormat } : {}) });
  try {
    const cid = backing.describe?.().formatSpecific?.data.cid;
    if (backing.driver !== 'vmdk' || typeof cid !== 'number') throw invalidOption('backing_file must be a vmdk image');
    return { cid, fileNameHint: settings.backingFile };
  } finally {
    await backing.close();
  }
}

async function writeStreamExtent(file: BlockNode, capacity: number, settings: VmdkCreateSettings, descriptorBytes: Uint8Array): Promise<void> {
  const gdEntries = Math.ceil(capacity / (GRAIN_SECTORS * GT_ENTRIES));
  const gdSectors = Math.ceil((gdEntries * 4) / SECTOR);
  const zeroFlag = settings.zeroedGrain ? FLAG_ZERO_GRAIN : 0;
  const overhead = alignUp(1 + DESCRIPTOR_SECTORS, GRAIN_SECTORS);
  const header = {
    ...headerBase(capacity, COMPRESSION_DEFLATE),
    version: 3,
    flags: FLAG_NEWLINE_DETECT | FLAG_COMPRESSED | FLAG_MARKERS | zeroFlag,
    rgdOffset: 0,
    overheadSectors: overhead,
  };
  await file.write(0, concat(encodeSparseHeader({ ...header, gdOffset: undefined }), padTo(descriptorBytes, DESCRIPTOR_SECTORS * SECTOR)));
  // The tail of an empty stream: no grains, no tables.
  const gd = padTo(encodeEntries(new Uint32Array(gdEntries)), gdSectors * SECTOR);
  const gdSector = overhead + 1;
  await file.write(
    overhead * SECTOR,
    concat(metadataMarker(MARKER_GD, gdSectors), gd, metadataMarker(MARKER_FOOTER, 1), encodeSparseHeader({ ...header, gdOffset: gdSector }), metadataMarker(MARKER_EOS, 0)),
  );
}

