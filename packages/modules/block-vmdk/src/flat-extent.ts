import type { BlockNode, BlockStatus } from '@tessera/core';
import type { Extent } from './extent.ts';
import { corrupt } from './errors.ts';

/** FLAT / VMFS extent: guest bytes stored as-is from `start` in the file. */
export class FlatExtent implements Extent {
  constructor(
    readonly file: BlockNode,
    readonly length: number,
    private readonly start: number,
    readonly writable: boolean,
    private readonly type: string,
  ) {}

  async read(offset: number, into: Uint8Array): Promise<void> {
    const at = this.start + offset;
    // A flat file shorter than its extent line says: the missing tail reads as zeroes (as qemu's file driver pads).
    const available = Math.max(0, Math.min(into.length, this.file.size - at));
    if (available > 0) await this.file.read(at, into.subarray(0, available));
    if (available < into.length) into.fill(0, available);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    await this.file.write(this.start + offset, data);
  }

  async status(offset: number, length: number): Promise<BlockStatus> {
    const at = this.start + offset;
    const inFile = this.file.size - at;
    if (inFile <= 0) return { length, zero: true, data: true, offset: at, allocated: true, file: this.file.filename };
    const status = await this.file.blockStatus?.(at, Math.min(length, inFile));
    // qemu reports flat extents as data, with the file's own zero (hole) status.
    return { length: status?.length ?? Math.min(length, inFile), zero: status?.zero ?? false, data: true, offset: at, allocated: true, file: this.file.filename };
  }

  info(): Record<string, unknown> {
    return { 'virtual-size': this.length, filename: this.file.filename, format: this.type };
  }

  flush(): Promise<void> {
    return this.file.flush();
  }
}

/** ZERO extent: reads as zeroes, holds no file. */
export class ZeroExtent implements Extent {
  readonly writable = false;
  constructor(readonly length: number) {}
  async read(_offset: number, into: Uint8Array): Promise<void> {
    into.fill(0);
  }
  async write(): Promise<void> {
    throw corrupt('cannot write to a ZERO extent of a VMDK image (it stores nothing)');
  }
  async status(_offset: number, length: number): Promise<BlockStatus> {
    return { length, zero: true, data: false, allocated: true };
  }
  info(): Record<string, unknown> {
    return { 'virtual-size': this.length, filename: '', format: 'ZERO' };
  }
  async flush(): Promise<void> {}
}
