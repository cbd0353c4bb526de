// The adapter to core's driver contract; the format itself is in layout.ts, image.ts and create.ts.
import type { BlockFormatDriver, BlockNode, ImageDescription } from '@tessera/core';
import { FormatNode } from '@tessera/module-kit/format/image-node';
import { createOptionTable, parseCreateOptions } from './create-options.ts';
import { createQcow } from './create.ts';
import { codedError } from '@tessera/module-kit/coded-error';
import { QcowImage } from './image.ts';
import { HEADER_BYTES, decodeTable, geometry, parseHeader } from './layout.ts';

export const qcowFormat: BlockFormatDriver = {
  name: 'qcow',
  createOptions: createOptionTable,
  capabilities: { backingFile: true },
  async open(file, { readOnly, openRelative }) {
    const head = new Uint8Array(Math.min(file.size, HEADER_BYTES));
    await file.read(0, head);
    const header = parseHeader(head, file.size);
    const l1 = new Uint8Array(geometry(header).l1Entries * 8);
    await file.read(header.l1TableOffset, l1);
    let backingFile: string | undefined;
    let backing: BlockNode | undefined;
    if (header.backingFileOffset !== 0 && header.backingFileSize > 0) {
      const name = new Uint8Array(header.backingFileSize);
      await file.read(header.backingFileOffset, name);
      backingFile = new TextDecoder().decode(name);
      if (!openRelative) throw codedError(`Could not open '${file.filename}': it needs its backing file '${backingFile}'`, 'unsupported-operation');
      backing = await openRelative(backingFile, { readOnly: true });
    }
    return new QcowNode(new QcowImage(file, header, decodeTable(l1), backing), backingFile, !readOnly && !file.readOnly);
  },
  async create(file, { size, formatOptions }) {
    await createQcow(file, size, parseCreateOptions(formatOptions));
  },
};

class QcowNode extends FormatNode<QcowImage> {
  readonly driver = 'qcow';

  constructor(
    image: QcowImage,
    private readonly backingFile: string | undefined,
    writable: boolean,
  ) {
    super(image, writable);
  }

  get backing(): BlockNode | undefined {
    return this.image.backing;
  }
  override async close(): Promise<void> {
    try {
      await this.image.backing?.close();
    } finally {
      await this.image.file.close();
    }
  }
  describe(): ImageDescription {
    return { clusterSize: this.image.clusterSize, dirty: false, ...(this.backingFile !== undefined ? { backingFile: this.backingFile } : {}) };
  }
}
