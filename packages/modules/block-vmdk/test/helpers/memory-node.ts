import type { BlockNode, BlockStatus } from '@tessera/core';

/** A file held in memory, for driver tests that need no disk: grows on writes past its end. */
export class MemoryNode implements BlockNode {
  readonly driver = 'file';
  readonly readOnly = false;
  constructor(
    readonly filename: string,
    public bytes: Uint8Array = new Uint8Array(0),
  ) {}
  get size(): number {
    return this.bytes.length;
  }
  async read(offset: number, into: Uint8Array): Promise<void> {
    if (offset < 0 || offset + into.length > this.bytes.length) throw new RangeError(`read past the end of ${this.filename}`);
    into.set(this.bytes.subarray(offset, offset + into.length));
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    if (offset + data.length > this.bytes.length) {
      const grown = new Uint8Array(offset + data.length);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes.set(data, offset);
  }
  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    return { length: Math.min(length, this.bytes.length - offset), zero: false, data: true, offset };
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
