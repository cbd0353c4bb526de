// The adapter to core's driver contract; the format itself is in layout.ts, tables.ts, image.ts,
// check.ts and create.ts.
import type { BlockFormatDriver, BlockNode, BlockStatus, CheckRepair, CheckResult, ImageDescription } from '@tessera/core';
import { createOptionTable, parseCreateOptions } from './create-options.ts';
import { createQed } from './create.ts';
import { codedError } from './errors.ts';
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

class QedNode implements BlockNode {
  readonly driver = 'qed';
  readonly readOnly: boolean;

  constructor(
    private readonly image: QedImage,
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
    return this.image.header.imageSize;
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
  async flush(): Promise<void> {
    if (!this.readOnly) await this.image.clearNeedCheck();
    await this.image.file.flush();
  }
  async close(): Promise<void> {
    try {
      if (!this.readOnly) await this.image.clearNeedCheck();
    } finally {
      await this.image.backing?.close();
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

  private inRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw new Error(`${this.filename}: access of ${length} bytes at ${offset} is beyond the end of the image (${this.size} bytes)`);
    }
  }
}
