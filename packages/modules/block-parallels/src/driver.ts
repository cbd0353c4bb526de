// The adapter to core's driver contract; the format itself is in layout.ts, image.ts and create.ts.
import type { BlockFormatDriver, BlockNode, BlockStatus, CheckRepair, CheckResult, ImageDescription } from '@tessera/core';
import { createOptionTable, parseCreateOptions } from './create-options.ts';
import { createParallels } from './create.ts';
import { codedError } from './errors.ts';
import { ParallelsImage } from './image.ts';
import { HEADER_BYTES, INUSE_MAGIC, batEnd, decodeBat, parseHeader } from './layout.ts';

export const parallelsFormat: BlockFormatDriver = {
  name: 'parallels',
  createOptions: createOptionTable,
  async open(file, { readOnly, forRepair }) {
    const head = new Uint8Array(Math.min(file.size, HEADER_BYTES));
    await file.read(0, head);
    const header = parseHeader(head, file.size);
    const batBytes = new Uint8Array(batEnd(header) - HEADER_BYTES);
    await file.read(HEADER_BYTES, batBytes);
    const image = new ParallelsImage(file, header, decodeBat(batBytes));
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

class ParallelsNode implements BlockNode {
  readonly driver = 'parallels';
  readonly readOnly: boolean;

  constructor(
    private readonly image: ParallelsImage,
    writable: boolean,
  ) {
    this.readOnly = !writable;
  }

  get child(): BlockNode {
    return this.image.file;
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
      if (!this.readOnly) await this.image.setInUse(false);
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
    // qemu's parallels driver reports no driver information: no cluster size, no dirty flag.
    return { noDriverInfo: true };
  }
  check(repair: CheckRepair): Promise<CheckResult> {
    return this.image.check(repair !== 'none' && !this.readOnly);
  }

  private inRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw new Error(`${this.filename}: access of ${length} bytes at ${offset} is beyond the end of the image (${this.size} bytes)`);
    }
  }
}
