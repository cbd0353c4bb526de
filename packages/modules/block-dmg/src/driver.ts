import type { BlockFormatDriver } from '@tessera/core';
import { ReadOnlyFormatNode, readOnlyFormat } from '@tessera/module-kit/format/read-only-node';
import { DmgImage } from './dmg-image.ts';
import { readKoly } from './koly.ts';
import { readChunks } from './resource-fork.ts';

/** The adapter to core's driver contract: read-only, as qemu's dmg driver. */
export const dmgFormat: BlockFormatDriver = {
  name: 'dmg',
  async open(file, options) {
    if (!options.readOnly) throw readOnlyFormat(file.filename);
    const koly = await readKoly(file);
    const chunks = await readChunks(file, koly);
    return new ReadOnlyFormatNode('dmg', file, koly.sectors * 512, new DmgImage(file, chunks));
  },
  // No create: qemu-img cannot make these images either (core refuses in qemu-img's words).
};
