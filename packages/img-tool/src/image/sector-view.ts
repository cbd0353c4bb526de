import type { BlockNode, BlockStatus, CheckRepair, CheckResult, ImageDescription, ResizeOptions } from '@tessera/core';

export const SECTOR_SIZE = 512;

/**
 * qemu's block layer counts image sizes in whole 512-byte sectors: a 100-byte raw file is a
 * 512-byte disk whose tail reads as zeroes. Images the tool opens are seen through this view
 * so sizes, copies and comparisons agree with qemu-img's.
 */
export function sectorAligned(node: BlockNode): BlockNode {
  return node.size % SECTOR_SIZE === 0 ? node : new SectorAlignedNode(node);
}

export function roundUpToSector(size: number): number {
  return Math.ceil(size / SECTOR_SIZE) * SECTOR_SIZE;
}

class SectorAlignedNode implements BlockNode {
  /** The format's `check`, where it has one (a qcow2 image whose virtual size is not whole sectors). */
  readonly check?: (repair: CheckRepair) => Promise<CheckResult>;

  constructor(private readonly inner: BlockNode) {
    if (inner.check) this.check = (repair) => inner.check!(repair);
  }

  get driver(): string {
    return this.inner.driver;
  }
  get filename(): string {
    return this.inner.filename;
  }
  get size(): number {
    return roundUpToSector(this.inner.size);
  }
  get readOnly(): boolean {
    return this.inner.readOnly;
  }
  get child(): BlockNode | undefined {
    return this.inner.child;
  }
  get backing(): BlockNode | undefined {
    return this.inner.backing;
  }
  describe(): ImageDescription {
    return this.inner.describe?.() ?? {};
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    if (offset < 0 || offset + into.length > this.size) {
      throw new Error(`${this.filename}: read of ${into.length} bytes at ${offset} is beyond the end (${this.size})`);
    }
    const stored = Math.max(0, Math.min(into.length, this.inner.size - offset));
    if (stored > 0) await this.inner.read(offset, into.subarray(0, stored));
    into.fill(0, stored);
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    return this.inner.write(offset, data);
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  async allocatedSize(): Promise<number | undefined> {
    return this.inner.allocatedSize?.();
  }

  /** `resize` of an odd-sized raw file: the file itself changes length (then it is whole sectors). */
  async resize(size: number, options: ResizeOptions): Promise<void> {
    if (!this.inner.resize) throw new Error('Image format driver does not support resize');
    await this.inner.resize(size, options);
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const end = Math.min(offset + length, this.size);
    if (offset >= this.inner.size) {
      // Past a raw file's end: qemu's file driver reports it as the file's trailing hole would be
      // (zeroes, allocated at that offset), so it merges with one.
      const direct = this.inner.driver === 'raw' || this.inner.driver === 'file';
      return direct
        ? { length: end - offset, zero: true, data: false, allocated: true, offset, file: this.inner.filename }
        : { length: end - offset, zero: true, data: false };
    }
    const storedLength = Math.min(end, this.inner.size) - offset;
    return this.inner.blockStatus?.(offset, storedLength) ?? { length: storedLength, zero: false, data: true, offset };
  }
}
