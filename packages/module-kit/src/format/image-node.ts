import type { BlockNode, BlockStatus, ImageDescription } from '@tessera/core';
import { codedError } from '../coded-error.ts';

/** What a writable format's image offers its node: the disk in guest offsets, over the file it is in. */
export interface FormatImage {
  /** The file the image is in (the node's child). */
  readonly file: BlockNode;
  /** The disk's size in bytes. */
  readonly size: number;
  read(offset: number, into: Uint8Array): Promise<void>;
  write(offset: number, data: Uint8Array): Promise<void>;
  blockStatus(offset: number, length: number): Promise<BlockStatus>;
}

/**
 * The node of a format that reads and writes (parallels, qcow, qed, vdi): every access is checked
 * against the disk's size and, for writes, against how the image was opened, then goes to the
 * image. A format adds what is its own (describe; check, backing, a flag cleared on close) in a
 * subclass.
 */
export abstract class FormatNode<Image extends FormatImage> implements BlockNode {
  abstract readonly driver: string;
  readonly readOnly: boolean;

  constructor(
    protected readonly image: Image,
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
  close(): Promise<void> {
    return this.image.file.close();
  }
  async allocatedSize(): Promise<number | undefined> {
    return this.image.file.allocatedSize?.();
  }
  blockStatus(offset: number, length: number): Promise<BlockStatus> {
    return this.image.blockStatus(offset, length);
  }
  abstract describe(): ImageDescription;

  private inRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw new Error(`${this.filename}: access of ${length} bytes at ${offset} is beyond the end of the image (${this.size} bytes)`);
    }
  }
}
