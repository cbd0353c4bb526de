import type { BlockNode, BlockStatus, ImageDescription } from '@tessera/core';
import { codedError } from '../coded-error.ts';

/** What a read-only format's image offers its node: reads in guest offsets, within the disk. */
export interface ReadOnlyImage {
  read(offset: number, into: Uint8Array): Promise<void>;
}

/** A read-only format opened for writing: qemu-img's words (its bdrv_apply_auto_read_only). */
export function readOnlyFormat(filename: string): Error {
  return codedError(`Could not open '${filename}': Image is read-only`, 'unsupported-operation');
}

/**
 * The node of a format qemu only reads (bochs, cloop, dmg): reads go to the image, writes are
 * refused in qemu-img's words, and, as qemu's drivers for these formats have neither get_info nor
 * block status, `info` shows no driver information and `map` reports everything as data.
 */
export class ReadOnlyFormatNode implements BlockNode {
  readonly readOnly = true;

  constructor(
    readonly driver: string,
    /** The file the image is in. */
    readonly child: BlockNode,
    /** The disk's size in bytes. */
    readonly size: number,
    private readonly image: ReadOnlyImage,
  ) {}

  get filename(): string {
    return this.child.filename;
  }
  read(offset: number, into: Uint8Array): Promise<void> {
    if (offset < 0 || offset + into.length > this.size) throw new Error(`read of ${into.length} bytes at ${offset} is past the end of '${this.filename}'`);
    return this.image.read(offset, into);
  }
  async write(): Promise<void> {
    throw readOnlyFormat(this.filename);
  }
  async flush(): Promise<void> {}
  close(): Promise<void> {
    return this.child.close();
  }
  allocatedSize(): Promise<number | undefined> {
    return this.child.allocatedSize?.() ?? Promise.resolve(undefined);
  }
  /** No cluster size and no dirty flag (qemu's driver has no get_info). */
  describe(): ImageDescription {
    return { noDriverInfo: true };
  }
  /** Everything is data, mapped nowhere in particular (qemu's driver reports no block status). */
  async blockStatus(_offset: number, length: number): Promise<BlockStatus> {
    return { length, zero: false, data: true, allocated: true };
  }
}
