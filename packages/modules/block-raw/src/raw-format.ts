import type { BlockFormatDriver, BlockNode, BlockStatus } from '@tessera/core';

/** The raw format: guest bytes are the file's bytes. */
export const rawFormat: BlockFormatDriver = {
  name: 'raw',
  // Any file can be raw; every real format outbids this.
  probe: () => 1,
  async open(file) {
    return new RawNode(file);
  },
};

class RawNode implements BlockNode {
  readonly driver = 'raw';

  constructor(readonly child: BlockNode) {}

  get filename(): string {
    return this.child.filename;
  }
  get size(): number {
    return this.child.size;
  }
  get readOnly(): boolean {
    return this.child.readOnly;
  }
  read(offset: number, into: Uint8Array): Promise<void> {
    return this.child.read(offset, into);
  }
  write(offset: number, data: Uint8Array): Promise<void> {
    return this.child.write(offset, data);
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
    return this.child.blockStatus?.(offset, length) ?? { length, zero: false, data: true, offset, allocated: true };
  }
}
