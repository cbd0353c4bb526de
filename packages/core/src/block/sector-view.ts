import { BlockError } from './errors.ts';
import type { BlockNode, BlockStatus, ImageDescription } from './types.ts';

export const SECTOR_SIZE = 512;

/**
 * qemu's block layer counts image sizes in whole 512-byte sectors: a 100-byte raw file is a
 * 512-byte disk whose tail reads as zeroes. The layer hands out the images it opens through this
 * view so sizes, copies and comparisons agree with qemu's. `direct`: the node's bytes are its
 * storage's (a raw image, a file), so past the end its status is the file's trailing hole.
 */
export function sectorAligned(node: BlockNode, direct: boolean): BlockNode {
  return node.size % SECTOR_SIZE === 0 ? node : new SectorAlignedNode(node, direct);
}

export function roundUpToSector(size: number): number {
  return Math.ceil(size / SECTOR_SIZE) * SECTOR_SIZE;
}

/** The optional operations passed on as they are (present here only where the node has them). */
const PASSED_ON = ['writeZeroes', 'resize', 'writeCompressed', 'setBacking', 'makeEmpty', 'check', 'amend', 'setPermissions'] as const;

class SectorAlignedNode implements BlockNode {
  readonly identity?: string;
  readonly probed?: boolean;

  constructor(
    private readonly inner: BlockNode,
    private readonly direct: boolean,
  ) {
    if (inner.identity !== undefined) this.identity = inner.identity;
    if (inner.probed) this.probed = true;
    // Capabilities stay visible: a command asks the node it was given for the operation it needs.
    for (const name of PASSED_ON) {
      const method = inner[name] as ((...args: unknown[]) => unknown) | undefined;
      if (method) Object.defineProperty(this, name, { value: method.bind(inner), enumerable: true });
    }
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
  get internalSnapshots(): BlockNode['internalSnapshots'] {
    return this.inner.internalSnapshots;
  }
  describe(): ImageDescription {
    return this.inner.describe?.() ?? {};
  }
  allocationUnit(): number | undefined {
    return this.inner.allocationUnit?.();
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    if (offset < 0 || offset + into.length > this.size) {
      throw new BlockError(`${this.filename}: read of ${into.length} bytes at ${offset} is beyond the end (${this.size})`, { code: 'out-of-range' });
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

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const end = Math.min(offset + length, this.size);
    if (offset >= this.inner.size) {
      // Past a raw file's end: qemu's file driver reports it as the file's trailing hole would be
      // (zeroes, allocated at that offset), so it merges with one.
      return this.direct
        ? { length: end - offset, zero: true, data: false, allocated: true, offset, file: this.inner.filename }
        : { length: end - offset, zero: true, data: false };
    }
    const storedLength = Math.min(end, this.inner.size) - offset;
    return this.inner.blockStatus?.(offset, storedLength) ?? { length: storedLength, zero: false, data: true, offset };
  }
}
