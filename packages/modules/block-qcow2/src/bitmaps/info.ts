// A bitmap as qemu-img's `info` lists it (Qcow2BitmapInfo): flags, name, granularity.
import { BITMAP_AUTO, BITMAP_IN_USE, type Bitmap } from './directory.ts';

export function bitmapInfo(b: Bitmap): { flags: string[]; name: string; granularity: number } {
  const flags = [...(b.flags & BITMAP_IN_USE ? ['in-use'] : []), ...(b.flags & BITMAP_AUTO ? ['auto'] : [])];
  return { flags, name: b.name, granularity: 2 ** b.granularityBits };
}
