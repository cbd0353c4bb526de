// convert --bitmaps: the source's persistent bitmaps copied into the target as qemu-img copies
// them (each added with its name, granularity and enabled state, then the source's bits merged
// in), with its refusals and its handling of inconsistent bitmaps (--skip-broken-bitmaps).
import type { BlockNode } from '@tessera/core';
import type { Console } from '../cli/console.ts';
import { ToolError, errorMessage } from '../cli/errors.ts';

/** Before anything is created: what qemu-img refuses about the sources. */
export function checkBitmapSources(sources: readonly BlockNode[], skipBroken: boolean): void {
  if (sources.length > 1) throw new ToolError('Copying bitmaps only possible with single source');
  const bitmaps = sources[0]!.persistentBitmaps;
  if (!bitmaps) throw new ToolError('Source lacks bitmap support');
  if (skipBroken) return;
  const broken = bitmaps.list().find((b) => b.inconsistent);
  if (broken) {
    throw new ToolError(`Cannot copy inconsistent bitmap '${broken.name}'\nTry --skip-broken-bitmaps, or use 'tessera-img bitmap --remove' to delete it`);
  }
}

/** After the data: every (consistent) source bitmap into the target. */
export async function copyBitmaps(source: BlockNode, target: BlockNode, targetFormat: string, console: Console): Promise<void> {
  const from = source.persistentBitmaps!;
  const into = target.persistentBitmaps;
  if (!into) throw new ToolError(`Format driver '${targetFormat}' does not support bitmaps`);
  for (const bitmap of from.list()) {
    if (bitmap.inconsistent) {
      console.warn(`Skipping inconsistent bitmap '${bitmap.name}'`);
      continue;
    }
    try {
      await into.change({ kind: 'add', name: bitmap.name, granularity: bitmap.granularity, disabled: !bitmap.enabled });
      await into.merge(bitmap.name, await from.read(bitmap.name));
    } catch (error) {
      throw new ToolError(`Failed to copy bitmap '${bitmap.name}': ${errorMessage(error)}`, 1, { cause: error });
    }
  }
}
