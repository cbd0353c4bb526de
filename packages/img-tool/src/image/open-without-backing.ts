import type { BlockNode, Host } from '@tessera/core';
import { ToolError } from '../cli/errors.ts';
import { couldNotOpen } from './open.ts';

/**
 * Open an image for writing without opening its backing file (qemu's BDRV_O_NO_BACKING): for
 * `rebase -u`, which only rewrites the backing file's name and must work when the old one is gone.
 * The block layer stands a node in for the backing file that refuses every read; a data file is
 * opened as usual, and the format, when not named, is probed as for every other open.
 */
export async function openWithoutBacking(host: Host, filename: string, format: string | undefined): Promise<BlockNode> {
  try {
    // Through the layer's open: the image locks of a writable image of its format.
    return await host.block.open(filename, { ...(format !== undefined ? { format } : {}), readOnly: false, withoutBacking: true });
  } catch (error) {
    throw new ToolError(couldNotOpen(filename, error), 1, { cause: error });
  }
}
