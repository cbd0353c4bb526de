// Reading and merging a bitmap's bits (convert --bitmaps copies each source bitmap this way, as
// qemu-img adds the bitmap to the target and merges the source's into it).
import type { PersistentBitmapInfo } from '@tessera/core';
import { codedError } from '../errors.ts';
import { storeBitmaps, type Image } from './change.ts';
import { BITMAP_AUTO, BITMAP_IN_USE, type Bitmap } from './directory.ts';
import { loadBits, writeBits, type BitmapTracker } from './tracker.ts';

export function listBitmaps(image: Image): PersistentBitmapInfo[] {
  return image.bitmaps.bitmaps.map((b) => ({
    name: b.name,
    granularity: 2 ** b.granularityBits,
    enabled: (b.flags & BITMAP_AUTO) !== 0,
    inconsistent: (b.flags & BITMAP_IN_USE) !== 0,
  }));
}

function find(image: Image, name: string): [number, Bitmap] {
  const index = image.bitmaps.bitmaps.findIndex((b) => b.name === name);
  if (index < 0) throw codedError(`Dirty bitmap '${name}' not found`, 'invalid-option');
  const bitmap = image.bitmaps.bitmaps[index]!;
  if (bitmap.flags & BITMAP_IN_USE) throw codedError(`Bitmap '${name}' is inconsistent and cannot be used`, 'unsupported-operation');
  return [index, bitmap];
}

export async function readBitmap(image: Image & { readonly bitmapTracker?: BitmapTracker | undefined }, name: string): Promise<Uint8Array> {
  // A bitmap recording this open's writes is marked in use on disk: its bits are the ones in memory.
  const index = image.bitmaps.bitmaps.findIndex((b) => b.name === name);
  const live = index < 0 ? undefined : image.bitmapTracker?.bitsOf(index);
  return live ?? loadBits(image, find(image, name)[1]);
}

/** OR `bits` (of a bitmap of the same granularity over a disk of the same size) into bitmap `name`, stored anew. */
export async function mergeIntoBitmap(image: Image, name: string, bits: Uint8Array): Promise<void> {
  const [index, bitmap] = find(image, name);
  const current = await loadBits(image, bitmap);
  for (let i = 0; i < current.length && i < bits.length; i++) current[i] = current[i]! | bits[i]!;
  const freed: [number, number][] = [];
  const next = [...image.bitmaps.bitmaps];
  next[index] = await writeBits(image, bitmap, current, freed);
  await image.child.flush();
  await storeBitmaps(image, next, freed);
}
