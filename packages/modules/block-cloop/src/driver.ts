import type { BlockFormatDriver } from '@tessera/core';
import { codedError } from '@tessera/module-kit/coded-error';
import { ReadOnlyFormatNode, readOnlyFormat } from '@tessera/module-kit/format/read-only-node';
import { CloopImage } from './cloop-image.ts';
import { HEADER_SIZE, parseHeader, parseOffsets } from './header.ts';

/** The adapter to core's driver contract: read-only, as qemu's cloop driver. */
export const cloopFormat: BlockFormatDriver = {
  name: 'cloop',
  async open(file, options) {
    if (!options.readOnly) throw readOnlyFormat(file.filename);
    const head = new Uint8Array(Math.min(HEADER_SIZE, file.size));
    await file.read(0, head);
    const header = parseHeader(head, file.filename);
    const tableBytes = (header.blockCount + 1) * 8;
    // The table is read whole: it must be in the file, so its size is bounded by the file's.
    if (HEADER_SIZE + tableBytes > file.size) {
      throw codedError(`Could not open '${file.filename}': the offsets of ${header.blockCount} blocks do not fit in the file, image file is corrupt`, 'corrupt-image');
    }
    const table = new Uint8Array(tableBytes);
    await file.read(HEADER_SIZE, table);
    const offsets = parseOffsets(table, header, file.size, file.filename);
    return new ReadOnlyFormatNode('cloop', file, header.blockSize * header.blockCount, new CloopImage(file, header, offsets));
  },
  // No create: qemu-img cannot make these images either (core refuses in qemu-img's words).
};
