import type { BlockFormatDriver, BlockNode } from '@tessera/core';
import { ClusterMap } from './cluster/mapping.ts';
import { corrupt } from './errors.ts';
import { createImage } from './create.ts';
import { INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE } from './header/features.ts';
import { readFirstCluster } from './header/first-cluster.ts';
import type { Qcow2Header } from './header/header.ts';
import { parseHeader } from './header/header.ts';
import { Qcow2Image } from './image.ts';
import { measureImage } from './measure.ts';
import { AMEND_OPTIONS, CREATE_OPTIONS } from './options.ts';
import { OPEN_OPTIONS } from './open-options.ts';
import { readSnapshotTable } from './snapshot/table.ts';
import { loadBitmaps } from './bitmaps/load.ts';
import { BitmapTracker } from './bitmaps/tracker.ts';
import { openEncryption } from './encryption/open.ts';
import { checkEncryptionSecret, encryptionRequest } from './encryption/options.ts';

export const qcow2Format: BlockFormatDriver = {
  name: 'qcow2',
  capabilities: { backingFile: true, compression: true, internalSnapshots: true, bitmaps: true },
  createOptions: CREATE_OPTIONS,
  amendOptions: AMEND_OPTIONS,
  openOptions: OPEN_OPTIONS,
  create: createImage,
  measure: measureImage,
  statusGranularity: l2Reach,
  // A missing or unknown secret is refused before the file is made (the suite, by block-luks at create).
  checkCreate({ formatOptions, secrets }) {
    const request = encryptionRequest(formatOptions);
    if (request) checkEncryptionSecret(request, secrets);
  },

  async open(file, options) {
    const { readOnly, openRelative, cacheUnsafe, forRepair, forBitmaps } = options;
    const head = await readFirstCluster(file);
    const header = parseHeader(head, file.size, file.filename);
    // Before any other file is opened: a missing or wrong passphrase leaves nothing to close.
    const encryption = await openEncryption(file, header, options);

    const l1Bytes = new Uint8Array(header.l1Size * 8);
    if (l1Bytes.length) await file.read(header.l1TableOffset, l1Bytes);
    if (!readOnly) checkWritable(header, file.filename, forRepair ?? false);
    const view = new DataView(l1Bytes.buffer);
    const l1 = new BigUint64Array(header.l1Size);
    for (let i = 0; i < header.l1Size; i++) l1[i] = view.getBigUint64(i * 8);

    let dataFile: BlockNode | undefined;
    if (header.incompatible & INCOMPAT_DATA_FILE) {
      const name = header.extensions.dataFile;
      if (name === undefined) throw corrupt(file.filename, 'the external data file bit is set but no data file is named');
      if (!openRelative) throw new Error(`Could not open '${file.filename}': it needs its data file '${name}'`);
      dataFile = await openRelative(name, { readOnly, protocolOnly: true });
    }
    let backing: BlockNode | undefined;
    try {
      if (header.backingFile !== undefined) {
        if (!openRelative) throw new Error(`Could not open '${file.filename}': it needs its backing file '${header.backingFile}'`);
        backing = await openRelative(header.backingFile, {
          readOnly: true,
          ...(header.extensions.backingFormat ? { format: header.extensions.backingFormat } : {}),
        });
      }
    } catch (error) {
      await dataFile?.close();
      throw new Error(`Could not open backing file: ${(error as Error).message}`, { cause: error });
    }
    // cache=unsafe: metadata changes stay in memory until flush or close, as in qemu's caches.
    const map = new ClusterMap(header, l1, file, !readOnly && (cacheUnsafe ?? false));
    const image = new Qcow2Image(file, header, map, backing, dataFile);
    image.encryption = encryption;
    try {
      image.snapshots = await readSnapshotTable(file, header);
      if (header.extensions.bitmaps) image.bitmaps = await loadBitmaps(file, header);
    } catch (error) {
      await backing?.close();
      await dataFile?.close();
      throw error;
    }
    if (!readOnly) {
      try {
        await image.enableWrites();
        // Enabled bitmaps are kept by guest writes (not while `bitmap` itself changes them).
        if (image.bitmaps.bitmaps.length && !forBitmaps && !forRepair) image.bitmapTracker = await BitmapTracker.start(image);
      } catch (error) {
        // Opened to be repaired: the check still runs and reports what it finds (as qemu-img's
        // does); it refuses only the repair.
        if (forRepair) image.writesRefused = error as Error;
        else {
          await backing?.close();
          throw error;
        }
      }
    }
    return image;
  },
};

/** Guest bytes one L2 table maps: qemu's status reports for qcow2 never cross it. */
function l2Reach(node: BlockNode): number | undefined {
  const description = node.describe?.();
  const clusterSize = description?.clusterSize;
  if (clusterSize === undefined) return undefined;
  const extended = description?.formatSpecific?.data['extended-l2'] === true;
  return clusterSize * (clusterSize / (extended ? 16 : 8));
}

/**
 * What the writer does not handle yet is refused up front, before anything is written. An image
 * marked corrupt is written only to be repaired (check -r clears the mark once it is consistent).
 */
function checkWritable(header: Qcow2Header, filename: string, forRepair: boolean): void {
  const refuse = (why: string) => new Error(`Could not open '${filename}' for writing: ${why}; open it read-only`);
  if (header.incompatible & INCOMPAT_CORRUPT && !forRepair) throw refuse('the image is marked corrupt (repair it with check -r all)');
}
