// The adapter to core's driver contract; the format itself is in layout.ts, tables.ts, image.ts,
// check.ts and create.ts.
import type { BlockFormatDriver, BlockNode, CheckRepair, CheckResult, ImageDescription } from '@tessera/core';
import { FormatNode } from '@tessera/module-kit/format/image-node';
import { createOptionTable, parseCreateOptions } from './create-options.ts';
import { createQed } from './create.ts';
import { codedError } from '@tessera/module-kit/coded-error';
import { QedImage } from './image.ts';
import { F_BACKING_FORMAT_NO_PROBE, backingName, encodeHeader, parseHeader } from './layout.ts';
import { Tables } from './tables.ts';

export const qedFormat: BlockFormatDriver = {
  name: 'qed',
  createOptions: createOptionTable,
  capabilities: { backingFile: true },
  async open(file, { readOnly, openRelative, forRepair }) {
    const first = new Uint8Array(Math.min(file.size, 4096));
    await file.read(0, first);
    const header = parseHeader(first, file.size);
    const writable = !readOnly && !file.readOnly;
    const tables = await Tables.load(file, header);
    const name = backingName(header, first);
    let backing: BlockNode | undefined;
    if (name !== undefined) {
      if (!openRelative) throw codedError(`Could not open '${file.filename}': it needs its backing file '${name}'`, 'unsupported-operation');
      backing = await openRelative(name, { readOnly: true, ...(header.features & F_BACKING_FORMAT_NO_PROBE ? { format: 'raw' } : {}) });
    }
    const image = new QedImage(file, header, tables, backing);
    try {
      if (writable && header.autoclearFeatures !== 0n) {
        header.autoclearFeatures = 0n; // no autoclear feature is known here: they are cleared, as the spec says
        await file.write(0, encodeHeader(header));
      }
      if (writable && !forRepair) await image.recoverIfNeeded();
    } catch (error) {
      await backing?.close();
      throw error;
    }
    return new QedNode(image, name, writable);
  },
  async create(file, { size, formatOptions }) {
    await createQed(file, size, parseCreateOptions(formatOptions));
  },
};

class QedNode extends FormatNode<QedImage> {
  readonly driver = 'qed';

  constructor(
    image: QedImage,
    private readonly backingFile: string | undefined,
    writable: boolean,
  ) {
    super(image, writable);
  }

  get backing(): BlockNode | undefined {
    return this.image.backing;
  }
  override async flush(): Promise<void> {
    if (!this.readOnly) await this.image.clearNeedCheck();
    await this.image.file.flush();
  }
  override async close(): Promise<void> {
    try {
      if (!this.readOnly) await this.image.clearNeedCheck();
    } finally {
      await this.image.backing?.close();
      await this.image.file.close();
    }
  }
  describe(): ImageDescription {
    // qemu-img info shows need-check as a clean image (dirty-flag false), so does this.
    return {
      clusterSize: this.image.clusterSize,
      dirty: false,
      ...(this.backingFile !== undefined ? { backingFile: this.backingFile } : {}),
      ...(this.backingFile !== undefined && this.image.header.features & F_BACKING_FORMAT_NO_PROBE ? { backingFormat: 'raw' } : {}),
    };
  }
  check(repair: CheckRepair): Promise<CheckResult> {
    return this.image.check(repair !== 'none' && !this.readOnly);
  }
}
