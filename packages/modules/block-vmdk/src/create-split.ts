/**
 * Creating the VMDK subformats whose data lives in files beside a descriptor file, as qemu-img
 * names and lays them out: monolithicFlat (one `NAME-flat.vmdk`), twoGbMaxExtentFlat
 * (`NAME-f001.vmdk`, … of at most 2 GiB each) and twoGbMaxExtentSparse (`NAME-s001.vmdk`, …
 * hosted sparse extents with an empty descriptor area). The descriptor file is the text alone.
 */
import type { BlockCreateOptions, BlockNode } from '@tessera/core';
import { MAX_SPARSE_BYTES, descriptorFor, writeSparseExtent, type Parent } from './create-layout.ts';
import { invalidOption, unsupportedOperation } from './errors.ts';
import type { VmdkCreateSettings } from './options.ts';
import { SECTOR } from './sparse-header.ts';

/** qemu's split size: each extent of a twoGbMaxExtent image holds at most 2 GiB. */
const SPLIT_SECTORS = (2 * 2 ** 30) / SECTOR;

interface Context {
  readonly createRelative?: BlockCreateOptions['createRelative'];
  readonly openRelative?: BlockCreateOptions['openRelative'];
}

export async function createWithExtentFiles(file: BlockNode, capacity: number, settings: VmdkCreateSettings, parent: Parent | undefined, context: Context): Promise<void> {
  const { createRelative, openRelative } = context;
  if (!createRelative || !openRelative) throw unsupportedOperation(`a ${settings.subformat} image's extent files cannot be created here`);
  const flat = settings.subformat !== 'twoGbMaxExtentSparse';
  const split = settings.subformat !== 'monolithicFlat';
  const base = extentBase(file.filename);
  const count = split ? Math.max(1, Math.ceil(capacity / SPLIT_SECTORS)) : 1;
  const extents = Array.from({ length: count }, (_, i) => ({
    access: 'RW' as const,
    sectors: split ? Math.min(SPLIT_SECTORS, capacity - i * SPLIT_SECTORS) : capacity,
    type: flat ? ('FLAT' as const) : ('SPARSE' as const),
    fileName: split ? `${base}-${flat ? 'f' : 's'}${String(i + 1).padStart(3, '0')}.vmdk` : `${base}-flat.vmdk`,
    offset: 0,
  }));
  if (!flat && extents.some((extent) => extent.sectors * SECTOR > MAX_SPARSE_BYTES)) throw invalidOption(`Could not create '${file.filename}': a VMDK sparse extent holds at most 2 TiB`);
  for (const extent of extents) {
    await createRelative(extent.fileName, flat ? extent.sectors * SECTOR : 0);
    if (flat) continue;
    const extentFile = await openRelative(extent.fileName, { readOnly: false, protocolOnly: true });
    try {
      await writeSparseExtent(extentFile, extent.sectors, settings, new Uint8Array(0));
    } finally {
      await extentFile.close();
    }
  }
  await file.write(0, new TextEncoder().encode(descriptorFor(capacity, settings, extents, parent)));
}

/** The descriptor's name without its directory and its `.vmdk` ending: the extents' names start with it. */
function extentBase(filename: string): string {
  const name = filename.slice(filename.lastIndexOf('/') + 1);
  return name.endsWith('.vmdk') ? name.slice(0, -'.vmdk'.length) : name;
}
