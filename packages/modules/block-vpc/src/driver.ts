import type { BlockFormatDriver, BlockNode, BlockStatus, ImageDescription, WriteZeroesOptions } from '@tessera/core';
import { CREATE_OPTIONS } from './create-options.ts';
import { createImage } from './create.ts';
import { DynamicDisk } from './dynamic-disk.ts';
import { readLayout } from './layout.ts';
import { OPEN_OPTIONS, sizeCalculation } from './open-options.ts';

/** The adapter between core's driver contract and the VHD format code. */
export const vpcFormat: BlockFormatDriver = {
  name: 'vpc',
  createOptions: CREATE_OPTIONS,
  create: createImage,
  openOptions: OPEN_OPTIONS,
  async open(file, { driverOptions }) {
    const layout = await readLayout(file, sizeCalculation(driverOptions));
    const dynamic = layout.dynamic && new DynamicDisk(file, layout.dynamic, layout.footerBytes, layout.virtualSize);
    return new VpcNode(file, layout.virtualSize, dynamic);
  },
};

class VpcNode implements BlockNode {
  readonly driver = 'vpc';

  constructor(
    readonly child: BlockNode,
    readonly size: number,
    /** Absent for a fixed disk, whose guest bytes are the file's first bytes. */
    private readonly dynamic: DynamicDisk | undefined,
  ) {}

  get filename(): string {
    return this.child.filename;
  }
  get readOnly(): boolean {
    return this.child.readOnly;
  }

  private checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw new RangeError(`${this.filename}: ${length} bytes at offset ${offset} are beyond the end of the disk (${this.size} bytes)`);
    }
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    this.checkRange(offset, into.length);
    if (this.dynamic) await this.dynamic.read(offset, into);
    else await this.child.read(offset, into);
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    this.checkRange(offset, data.length);
    if (this.dynamic) await this.dynamic.write(offset, data);
    else await this.child.write(offset, data);
  }
  async writeZeroes(offset: number, length: number, options: WriteZeroesOptions): Promise<void> {
    this.checkRange(offset, length);
    if (this.dynamic) await this.dynamic.writeZeroes(offset, length);
    else if (this.child.writeZeroes) await this.child.writeZeroes(offset, length, options);
    else for (let at = 0; at < length; at += 1 << 20) await this.child.write(offset + at, new Uint8Array(Math.min(1 << 20, length - at)));
  }
  async flush(): Promise<void> {
    await this.dynamic?.settle();
    await this.child.flush();
  }
  async close(): Promise<void> {
    try {
      if (!this.readOnly) await this.dynamic?.settle();
    } finally {
      await this.child.close();
    }
  }
  async allocatedSize(): Promise<number | undefined> {
    return this.child.allocatedSize?.();
  }
  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    if (this.dynamic) return this.dynamic.blockStatus(offset, Math.min(length, this.size - offset));
    // A fixed disk's bytes are the file's: its holes read as zeroes, and qemu reports them as
    // data all the same (zero and data), as `qemu-img map` shows.
    const span = Math.min(length, this.size - offset);
    const status = await this.child.blockStatus?.(offset, span);
    return { length: Math.min(status?.length ?? span, span), zero: status?.zero ?? false, data: true, offset, allocated: true, file: this.child.filename };
  }
  describe(): ImageDescription {
    return this.dynamic ? { clusterSize: this.dynamic.blockSize } : {};
  }
}
