// `-B NAME`: a persistent dirty bitmap of the image offered as the qemu:dirty-bitmap:NAME meta
// context, as qemu-nbd does: status 1 (dirty) for granules the bitmap marks, 0 (clean) for others.
import type { BlockNode, PersistentBitmapInfo } from '@tessera/core';

export const DIRTY_BITMAP_PREFIX = 'qemu:dirty-bitmap:';
const STATE_DIRTY = 1;

/** The bitmap `name` of `node`, checked as qemu-nbd checks it; throws qemu-nbd's message. */
export function exportedBitmap(node: BlockNode, name: string): PersistentBitmapInfo {
  const info = node.persistentBitmaps?.list().find((bitmap) => bitmap.name === name);
  if (!info) throw new Error(`Bitmap '${name}' is not found`);
  if (info.inconsistent) throw new Error(`Bitmap '${name}' is inconsistent and cannot be used`);
  return info;
}

/**
 * The bitmap's runs from `offset`, each at most to `end`, neighbours of the same state merged, at
 * most `maxRuns`. The bits are read once and read again after the export is written (an enabled
 * bitmap records the writes).
 */
export class DirtyBitmapStatus {
  private bits: Promise<Uint8Array> | undefined;

  constructor(
    private readonly node: BlockNode,
    readonly info: PersistentBitmapInfo,
  ) {}

  get context(): string {
    return DIRTY_BITMAP_PREFIX + this.info.name;
  }

  /** The image was written: the next query reads the bits again. */
  changed(): void {
    this.bits = undefined;
  }

  async runs(offset: number, length: number, maxRuns: number): Promise<Array<{ length: number; flags: number }>> {
    this.bits ??= this.node.persistentBitmaps!.read(this.info.name);
    const bits = await this.bits;
    const granule = this.info.granularity;
    const end = Math.min(offset + length, this.node.size);
    const runs: Array<{ length: number; flags: number }> = [];
    for (let at = offset; at < end; ) {
      const index = Math.floor(at / granule);
      const flags = (bits[index >> 3]! >> (index & 7)) & 1 ? STATE_DIRTY : 0;
      const next = Math.min(end, (index + 1) * granule);
      const last = runs[runs.length - 1];
      if (last && last.flags === flags) last.length += next - at;
      else if (runs.length === maxRuns) break;
      else runs.push({ length: next - at, flags });
      at = next;
    }
    return runs;
  }
}
