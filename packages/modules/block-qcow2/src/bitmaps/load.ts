// Reading the persistent bitmaps at open: the bitmaps header extension checked as QEMU checks it
// (with its messages), then the directory. Only images that have the extension pay for it.
import type { BlockNode } from '@tessera/core';
import { codedError } from '../errors.ts';
import { AUTOCLEAR_BITMAPS } from '../header/features.ts';
import type { Qcow2Header } from '../header/header.ts';
import { readHost } from '../host-read.ts';
import { MAX_BITMAPS, MAX_DIRECTORY_SIZE, parseBitmapDirectory, type Bitmap } from './directory.ts';

export interface BitmapsState {
  readonly bitmaps: readonly Bitmap[];
  readonly directoryOffset: number;
  readonly directorySize: number;
}

/** The image's bitmaps; none when it has no (valid-by-autoclear) bitmaps extension. */
export async function loadBitmaps(file: BlockNode, header: Qcow2Header): Promise<BitmapsState> {
  const none: BitmapsState = { bitmaps: [], directoryOffset: 0, directorySize: 0 };
  const ext = header.extensions.bitmaps;
  if (!ext) return none;
  const fail = (what: string) => codedError(`Could not open '${file.filename}': ${what}`, 'corrupt-image');
  if (ext.length !== 24) throw fail('bitmaps_ext: Invalid extension length');
  // Cleared by a program that does not know bitmaps: QEMU then treats them as gone (inconsistent).
  if ((header.autoclear & AUTOCLEAR_BITMAPS) === 0n) return none;
  if (ext.reserved !== 0) throw fail('bitmaps_ext: Reserved field is not zero');
  if (ext.count > MAX_BITMAPS) throw fail(`bitmaps_ext: Image has ${ext.count} bitmaps, exceeding the QEMU supported maximum of ${MAX_BITMAPS}`);
  if (ext.count === 0) throw fail('found bitmaps extension with zero bitmaps');
  if (ext.directoryOffset % BigInt(header.clusterSize) !== 0n) throw fail('bitmaps_ext: invalid bitmap directory offset');
  if (ext.directorySize > BigInt(MAX_DIRECTORY_SIZE)) {
    throw fail(`bitmaps_ext: bitmap directory size (${ext.directorySize}) exceeds the maximum supported size (${MAX_DIRECTORY_SIZE})`);
  }
  const directorySize = Number(ext.directorySize);
  const directoryOffset = Number(ext.directoryOffset);
  if (directorySize === 0) throw fail('Requested bitmap directory size is zero');
  if (directoryOffset + directorySize > file.size) throw fail('Failed to read bitmap directory: the directory lies beyond the end of the file');
  const dir = new Uint8Array(directorySize);
  await readHost(file, directoryOffset, dir);
  try {
    return { bitmaps: parseBitmapDirectory(dir, ext.count, header.clusterSize, header.size), directoryOffset, directorySize };
  } catch (error) {
    throw fail((error as Error).message);
  }
}
