import type { BlockFormatDriver, BlockNode, CheckRepair, CheckResult, ImageDescription, WriteZeroesOptions } from '@tessera/core';
import { CREATE_OPTIONS } from './create-options.ts';
import { createImage } from './create.ts';
import type { VhdxImage } from './image.ts';
import { openVhdx } from './open.ts';

/** The adapter between core's driver contract and the VHDX format code. */
export const vhdxFormat: BlockFormatDriver = {
  name: 'vhdx',
  createOptions: CREATE_OPTIONS,
  create: createImage,
  async open(file, { readOnly, openRelative }) {
    const { image, logReplayed, parent } = await openVhdx(file, readOnly, openRelative);
    return new VhdxNode(image, logReplayed, parent);
  },
};

class VhdxNode implements BlockNode {
  readonly driver = 'vhdx';

  readonly backing?: BlockNode;

  constructor(
    private readonly image: VhdxImage,
    private readonly logReplayed: boolean,
    /** A differencing image's parent (read-only, closed with it) and the name its locator gives. */
    private readonly parent?: { readonly node: BlockNode; readonly name: string },
  ) {
    if (parent) this.backing = parent.node;
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
  get readOnly(): boolean {
    return this.image.file.readOnly;
  }
  private checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw new RangeError(`${this.filename}: ${length} bytes at offset ${offset} are beyond the end of the disk (${this.size} bytes)`);
    }
  }
  async read(offset: number, into: Uint8Array): Promise<void> {
    this.checkRange(offset, into.length);
    await this.image.read(offset, into);
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    this.checkRange(offset, data.length);
    await this.image.write(offset, data);
  }
  async writeZeroes(offset: number, length: number, _options: WriteZeroesOptions): Promise<void> {
    this.checkRange(offset, length);
    await this.image.writeZeroes(offset, length);
  }
  async flush(): Promise<void> {
    await this.image.settle();
    await this.image.file.flush();
  }
  async close(): Promise<void> {
    try {
      if (!this.readOnly) {
        await this.image.settle();
        await this.image.closeLog();
      }
    } finally {
      await this.image.file.close();
      await this.parent?.node.close();
    }
  }
  async allocatedSize(): Promise<number | undefined> {
    return this.image.file.allocatedSize?.();
  }
  describe(): ImageDescription {
    return { clusterSize: this.image.metadata.blockSize, ...(this.parent ? { backingFile: this.parent.name } : {}) };
  }
  /**
   * qemu-img's vhdx check: the metadata was checked on opening (a bad image does not open); a
   * log replayed on opening counts as one corruption repaired, as qemu-img reports it.
   */
  async check(_repair: CheckRepair): Promise<CheckResult> {
    return { corruptions: 0, leaks: 0, checkErrors: 0, corruptionsFixed: this.logReplayed ? 1 : 0, leaksFixed: 0, messages: [] };
  }
}
