// Where the bitmaps header extension puts the bitmap directory (read by check and by the overlap
// guard, which must not depend on check).
import type { BlockNode } from '@tessera/core';
import { readHost } from '../host-read.ts';
import { HEADER_EXTENSION } from '../layout.ts';
import type { Qcow2Header } from './header.ts';

/** The bitmaps header extension's directory location, when the image has bitmaps. */
export async function bitmapDirectory(file: BlockNode, header: Qcow2Header): Promise<{ offset: number; size: number } | undefined> {
  if (!header.extensions.hasBitmaps) return undefined;
  const head = new Uint8Array(header.clusterSize);
  await readHost(file, 0, head);
  const view = new DataView(head.buffer);
  for (let at = header.headerLength; at + 8 <= head.length; ) {
    const type = view.getUint32(at);
    const length = view.getUint32(at + 4);
    if (type === HEADER_EXTENSION.end) return undefined;
    // Extension data: nb_bitmaps (4), reserved (4), directory size (8), directory offset (8).
    if (type === HEADER_EXTENSION.bitmaps && length >= 24 && at + 8 + 24 <= head.length) {
      if (view.getUint32(at + 8) === 0) return undefined;
      return { size: Number(view.getBigUint64(at + 16)), offset: Number(view.getBigUint64(at + 24)) };
    }
    at += 8 + Math.ceil(length / 8) * 8;
  }
  return undefined;
}
