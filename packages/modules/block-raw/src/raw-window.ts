import type { BlockNode, BlockStatus } from '@tessera/core';
import { codedError } from '@tessera/module-kit/coded-error';
import type { RawWindow } from './open-options.ts';

/**
 * A raw image that is part of its file (`offset`, `size`): guest offset 0 is the file's `offset`.
 * Without `size` it runs to the file's end (and follows a file that grows, as qemu's does).
 */
export class RawWindowNode implements BlockNode {
  readonly driver = 'raw';

  constructor(
    readonly child: BlockNode,
    private readonly window: RawWindow,
  ) {}

  get filename(): string {
    return this.child.filename;
  }
  get size(): number {
    return this.window.size ?? Math.max(0, this.child.size - this.window.offset);
  }
  get readOnly(): boolean {
    return this.child.readOnly;
  }
  private checkRange(offset: number, length: number): void {
    if (offset < 0 || offset + length > this.size) {
      throw codedError(`${this.filename}: ${length} bytes at offset ${offset} are beyond the end of the image (${this.size} bytes)`, 'out-of-range');
    }
  }
  read(offset: number, into: Uint8Array): Promise<void> {
    this.checkRange(offset, into.length);
    return this.child.read(this.window.offset + offset, into);
  }
  write(offset: number, data: Uint8Array): Promise<void> {
    this.checkRange(offset, data.length);
    return this.child.write(this.window.offset + offset, data);
  }
  flush(): Promise<void> {
    return this.child.flush();
  }
  close(): Promise<void> {
    return this.child.close();
  }
  async allocatedSize(): Promise<number | undefined> {
    return this.child.allocatedSize?.();
  }
  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const at = this.window.offset + offset;
    const status = (await this.child.blockStatus?.(at, length)) ?? { length, zero: false, data: true, offset: at, allocated: true };
    return { ...status, length: Math.min(status.length, length), ...(status.offset !== undefined ? { offset: at } : {}) };
  }
}
