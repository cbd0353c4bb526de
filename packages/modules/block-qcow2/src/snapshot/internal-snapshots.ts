import type { InternalSnapshots } from '@tessera/core';
import { codedError } from '../errors.ts';
import type { Qcow2State } from '../state.ts';
import { applySnapshot } from './apply.ts';
import { createSnapshot } from './create.ts';
import { deleteSnapshot } from './delete.ts';
import { snapshotView } from './view.ts';

/**
 * The image's snapshot operations, each alone with the image (under the write lock). Applying one
 * is refused while the image has dirty bitmaps (any, as QEMU's block layer refuses it): their bits
 * would no longer describe the disk.
 */
export function internalSnapshots(image: Qcow2State, hasBitmaps: () => boolean): InternalSnapshots {
  const exclusive = (body: () => Promise<void>) => {
    if (!image.refcounts) return Promise.reject(new Error(`${image.filename}: the image is opened read-only`));
    // QEMU's answer (ENOTSUP) for images with an external data file.
    if (image.dataFile) return Promise.reject(new Error('-95 (Operation not supported)'));
    return image.lock.write(body);
  };
  return {
    create: (name) => exclusive(() => createSnapshot(image, name)),
    apply: (idOrName) =>
      hasBitmaps() ? Promise.reject(codedError('Device has active dirty bitmaps', 'unsupported-operation')) : exclusive(() => applySnapshot(image, idOrName)),
    delete: (idOrName) => exclusive(() => deleteSnapshot(image, idOrName)),
    view: (selector) => image.lock.read(() => snapshotView(image, selector)),
  };
}
