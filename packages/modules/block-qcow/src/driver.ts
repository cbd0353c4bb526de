// The adapter to core's driver contract; the format itself is in layout.ts, image.ts and create.ts.
import type { BlockFormatDriver, BlockNode, BlockStatus, ImageDescription } from '@tessera/core';
import { createOptionTable, parseCreateOptions } from './create-options.ts';
import { createQcow } from './create.ts';
import { codedError } from './errors.ts';
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

class QcowNode implements BlockNode {
  readonly driver = 'qcow';
  readonly readOnly: boolean;

  constructor(
    private readonly image: QcowImage,
    private readonly backingFile: string | undefined,
    writable: boolean,
  ) {
    this.readOnly = !writable;
  }

  get child(): BlockNode {
    return this.image.file;
  }
  get backing(): BlockNode | undefined {
    return this.image.backing;
  }
  get filename(): string {
    return this.image.file.filename;
  }
  get size(): number {
    return this.image.size;
  }

  read(offset: number, into: Uint8Array): Promise<void> {
    this.inRange(offset, into.length);
    return this.image.read(offset, into);
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.readOnly) throw codedError(`${this.filename}: the image is opened read-only`, 'unsupported-operation');
    this.inRange(offset, data.length);
    await this.image.write(offset, data);
  }
  flush(): Promise<void> {
    return this.image.file.flush();
  }
  async close(): Promise<void> {
    try {
      await this.image.backing?.close();
    } finally {
      await this.image.file.close();
    }
  }
  async allocatedSize(): Promise<number | undefined> {
    return this.image.file.allocatedSize?.();
  }
  blockStatus(offset: number, length: number): Promise<BlockStatus> {
    return this.image.blockStatus(offset, length);
  }
  describe(): ImageDescription {
    return { clusterSize: this.image.clusterSize, dirty: false, ...(this.backingFile !== undefined ? { backingFile: this.backingFile } : {}) };
  }

  private inRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw new Error(`${this.filename}: access of ${length} bytes at ${offset} is beyond the end of the image (${this.size} bytes)`);
    }
  }
}
