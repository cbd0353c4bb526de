// The adapter to core's driver contract; the format itself is in layout.ts, image.ts and create.ts.
import type { BlockFormatDriver, CheckRepair, CheckResult, ImageDescription } from '@tessera/core';
import { FormatNode } from '@tessera/module-kit/format/image-node';
import { createOptionTable, parseCreateOptions } from './create-options.ts';
import { createParallels } from './create.ts';
import { codedError } from '@tessera/module-kit/coded-error';
import { ParallelsImage } from './image.ts';
import { HEADER_BYTES, INUSE_MAGIC, batEnd, clusterBytes, decodeBat, parseHeader } from './layout.ts';
import { openOptionTable, parsePreallocation } from './open-options.ts';

export const parallelsFormat: BlockFormatDriver = {
  name: 'parallels',
  createOptions: createOptionTable,
  openOptions: openOptionTable,
  async open(file, { readOnly, forRepair, driverOptions }) {
    const head = new Uint8Array(Math.min(file.size, HEADER_BYTES));
    await file.read(0, head);
    const header = parseHeader(head, file.size);
    const preallocation = parsePreallocation(driverOptions, clusterBytes(header));
    const batBytes = new Uint8Array(batEnd(header) - HEADER_BYTES);
    await file.read(HEADER_BYTES, batBytes);
    const image = new ParallelsImage(file, header, decodeBat(batBytes), preallocation);
    const writable = !readOnly && !file.readOnly;
    if (writable && header.inUse === INUSE_MAGIC && !forRepair) {
      throw codedError(`parallels: Image was not closed correctly; cannot be opened read/write`, 'corrupt-image');
    }
    if (writable && !forRepair) await image.setInUse(true);
    return new ParallelsNode(image, writable);
  },
  async create(file, { size, formatOptions }) {
    await createParallels(file, size, parseCreateOptions(formatOptions));
  },
};

class ParallelsNode extends FormatNode<ParallelsImage> {
  readonly driver = 'parallels';

  override async close(): Promise<void> {
    try {
      if (!this.readOnly) await this.image.closeForWriting();
    } finally {
      await this.image.file.close();
    }
  }
  describe(): ImageDescription {
    // qemu's parallels driver reports no driver information: no cluster size, no dirty flag.
    return { noDriverInfo: true };
  }
  check(repair: CheckRepair): Promise<CheckResult> {
    return this.image.check(this.readOnly ? 'none' : repair);
  }
}
