import type { BlockNode, OpenRelative } from '@tessera/core';
import { PAYLOAD_FULLY_PRESENT, PAYLOAD_PARTIALLY_PRESENT, batGeometry, entryOffset, entryState } from './bat.ts';
import { codedError, corrupt, unsupported } from './errors.ts';
import { isZeroGuid } from './guid.ts';
import { HEADER_SECTION_END, readCurrentHeader, type CurrentHeader } from './header.ts';
import { VhdxImage } from './image.ts';
import { logRegion, readActiveSequence, replay } from './log.ts';
import { DifferencingReader } from './differencing.ts';
import { readMetadata } from './metadata.ts';
import { parentPath } from './parent-locator.ts';
import { readRegions, type Region } from './region-table.ts';

export interface OpenedVhdx {
  readonly image: VhdxImage;
  /** The log was replayed on opening (`check` reports it as a repaired corruption, as qemu-img). */
  readonly logReplayed: boolean;
  /** A differencing image's parent, and the name its locator gives it. */
  readonly parent?: { readonly node: BlockNode; readonly name: string };
}

/**
 * Open an image as qemu 7.2 does: the current header; a log to replay (only when opened for
 * writing: read-only, qemu's message and its advice); then the region table, metadata and BAT,
 * every field checked against the file.
 */
export async function openVhdx(file: BlockNode, readOnly: boolean, openRelative?: OpenRelative): Promise<OpenedVhdx> {
  const name = file.filename;
  let current = await readCurrentHeader(file);
  let logReplayed = false;
  const log = logRegion(current.header, file);
  if (!isZeroGuid(current.header.logGuid)) {
    const sequence = await readActiveSequence(file, current.header);
    if (sequence) {
      if (readOnly) {
        throw codedError(
          `Could not open '${name}': VHDX image file '${name}' opened read-only, but contains a log that needs to be replayed\n` +
            `To replay the log, run:\ntessera-img check -r all '${name}'`,
          'corrupt-image',
        );
      }
      await replay(file, sequence, log);
      logReplayed = true;
    }
  }
  const regions = await readRegions(file);
  const metadata = await readMetadata(file, regions.metadata);
  const differencing = metadata.hasParent;
  if (differencing && !readOnly) throw unsupported(name, 'differencing VHDX images (with a parent) can only be opened read-only here');
  if (differencing && !metadata.parentLocator) throw corrupt(name, 'The image has a parent but no parent locator');
  const geometry = batGeometry(metadata.virtualSize, metadata.blockSize, metadata.logicalSectorSize, differencing);
  if (geometry.entries * 8 > regions.bat.length) throw corrupt(name, `The BAT region (${regions.bat.length} bytes) is too small for ${geometry.entries} entries`);
  const batBytes = new Uint8Array(geometry.entries * 8);
  await file.read(regions.bat.offset, batBytes);
  const view = new DataView(batBytes.buffer);
  const bat = new BigUint64Array(geometry.entries);
  const metadataAreas: Region[] = [{ offset: 0, length: HEADER_SECTION_END }, log, regions.bat, regions.metadata];
  for (let i = 0; i < geometry.entries; i++) {
    const entry = view.getBigUint64(i * 8, true);
    bat[i] = entry;
    const state = entryState(entry);
    if (state === PAYLOAD_PARTIALLY_PRESENT && !differencing) throw corrupt(name, `BAT entry ${i} is partially present in an image without a parent`);
    // A partially present block lies in the file as a present one does (its sector bitmap says which sectors count).
    if (state !== PAYLOAD_FULLY_PRESENT && state !== PAYLOAD_PARTIALLY_PRESENT) continue;
    const offset = entryOffset(entry);
    if (offset >= file.size) throw corrupt(name, `VHDX BAT entry ${i} offset points after end of file (${offset}). Image has probably been truncated.`);
    if (metadataAreas.some((area) => offset < area.offset + area.length && area.offset < offset + metadata.blockSize)) {
      throw corrupt(name, `VHDX BAT entry ${i} (offset ${offset}) overlaps the image's metadata`);
    }
  }
  if (logReplayed) current = await readCurrentHeader(file);
  const image = new VhdxImage(file, current, regions, metadata, geometry, bat, log);
  // The log is replayed: the headers say so (no log GUID), so the next open does not replay again.
  if (logReplayed) await image.updateHeaders({ logGuid: new Uint8Array(16) });
  if (!differencing) return { image, logReplayed };
  const parentName = parentPath(metadata.parentLocator!, name);
  if (!openRelative) throw unsupported(name, `its parent image '${parentName}' cannot be opened here`);
  const parent = await openRelative(parentName, { readOnly: true });
  image.readDifferencing(new DifferencingReader(file, parent, geometry, bat, metadata.logicalSectorSize));
  return { image, logReplayed, parent: { node: parent, name: parentName } };
}
