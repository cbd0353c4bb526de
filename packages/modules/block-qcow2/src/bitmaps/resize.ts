// Resizing an image that has persistent dirty bitmaps, as qemu-img 7.2 does: refused while one of
// them is inconsistent (QEMU's message); otherwise every bitmap follows the new size — granules
// past a shrunk end become clean, a grown part is clean — in a new table of the new size.
//
// Order on disk: the bitmaps are marked in use before the size changes (a crash in the middle
// leaves them inconsistent, never wrong, and the image still opens: an in-use bitmap may be
// shorter than the disk); after it, each is stored anew without the flag. Bitmaps that guest
// writes of this open track (tracker.ts) stay in use and are stored at close, as after any write.
import type { ResizeOptions } from '@tessera/core';
import { codedError } from '../errors.ts';
import { resizeImage } from '../resize.ts';
import type { Qcow2State } from '../state.ts';
import { storeBitmaps, type Image } from './change.ts';
import { BITMAP_IN_USE } from './directory.ts';
import { bitsForSize, loadBits, writeBits, type BitmapTracker } from './tracker.ts';

export type ResizableImage = Image & { readonly bitmapTracker: BitmapTracker | undefined };

/** QEMU refuses to resize (and to use) a bitmap left in use by a writer that did not close. */
export function refuseInconsistentBitmaps(image: ResizableImage): void {
  image.bitmaps.bitmaps.forEach((b, index) => {
    if (b.flags & BITMAP_IN_USE && !image.bitmapTracker?.bitsOf(index)) {
      throw codedError(`Bitmap '${b.name}' is inconsistent and cannot be used\nTry block-dirty-bitmap-remove to delete this bitmap from disk`, 'unsupported-operation');
    }
  });
}

/** resize.ts's resize, the persistent bitmaps resized with the disk. */
export async function resizeKeepingBitmaps(image: ResizableImage & Qcow2State, size: number, options: ResizeOptions): Promise<void> {
  if (!image.bitmaps.bitmaps.length) return resizeImage(image, size, options);
  refuseInconsistentBitmaps(image);
  const tracker = image.bitmapTracker;
  // The bitmaps this resize stores itself (the untracked ones), with their bits at the old size.
  let own: { index: number; bits: Uint8Array }[] | undefined;
  const markInUse = async () => {
    await tracker?.ready();
    const loaded: { index: number; bits: Uint8Array }[] = [];
    for (const [index, b] of image.bitmaps.bitmaps.entries()) {
      if (!tracker?.bitsOf(index)) loaded.push({ index, bits: await loadBits(image, b) });
    }
    await storeBitmaps(image, image.bitmaps.bitmaps.map((b) => ({ ...b, flags: b.flags | BITMAP_IN_USE })), []);
    own = loaded;
  };
  try {
    await resizeImage(image, size, options, markInUse);
  } finally {
    // Also after a failure part-way: the bitmaps then follow whatever size the header has.
    if (own) await storeResized(image, own);
  }
}

async function storeResized(image: ResizableImage, own: readonly { index: number; bits: Uint8Array }[]): Promise<void> {
  const size = image.header.size;
  image.bitmapTracker?.resized(size);
  const next = [...image.bitmaps.bitmaps];
  const freed: [number, number][] = [];
  for (const { index, bits } of own) {
    const b = next[index]!;
    next[index] = { ...(await writeBits(image, b, bitsForSize(bits, b.granularityBits, size), freed)), flags: b.flags & ~BITMAP_IN_USE };
  }
  await image.child.flush();
  await storeBitmaps(image, next, freed);
}
