// The adapter to core's driver contract: everything format-specific is in layout.ts, block-map.ts,
// image.ts and create.ts.
import type { BlockFormatDriver, CheckResult, ImageDescription } from '@tessera/core';
import { FormatNode } from '@tessera/module-kit/format/image-node';
import { BlockMap } from './block-map.ts';
import { createOptionTable, parseCreateOptions } from './create-options.ts';
import { createVdi } from './create.ts';
import { VdiImage } from './image.ts';
import { HEADER_SIZE, parseHeader } from './layout.ts';

export const vdiFormat: BlockFormatDriver = {
  name: 'vdi',
  createOptions: createOptionTable,
  async open(file, { readOnly }) {
    const bytes = new Uint8Array(Math.min(HEADER_SIZE, file.size));
    await file.read(0, bytes);
    const header = parseHeader(bytes, file.size);
    return new VdiNode(new VdiImage(file, await BlockMap.load(file, header)), !(readOnly || file.readOnly));
  },
  async create(file, { size, formatOptions }) {
    await createVdi(file, size, parseCreateOptions(formatOptions));
  },
};

class VdiNode extends FormatNode<VdiImage> {
  readonly driver = 'vdi';

  describe(): ImageDescription {
    return { clusterSize: this.image.map.header.blockSize, dirty: false };
  }

  async check(): Promise<CheckResult> {
    return this.image.map.check();
  }
}
