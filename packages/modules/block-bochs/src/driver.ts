import type { BlockFormatDriver } from '@tessera/core';
import { ReadOnlyFormatNode, readOnlyFormat } from '@tessera/module-kit/format/read-only-node';
import { BochsImage } from './bochs-image.ts';
import { HEADER_SIZE, parseHeader } from './header.ts';

/** The adapter to core's driver contract: read-only, as qemu's bochs driver. */
export const bochsFormat: BlockFormatDriver = {
  name: 'bochs',
  async open(file, options) {
    if (!options.readOnly) throw readOnlyFormat(file.filename);
    const head = new Uint8Array(Math.min(HEADER_SIZE, file.size));
    await file.read(0, head);
    const header = parseHeader(head, file.size, file.filename);
    return new ReadOnlyFormatNode('bochs', file, header.size, await BochsImage.open(file, header));
  },
  // No create: qemu-img cannot make these images either (core refuses in qemu-img's words).
};
