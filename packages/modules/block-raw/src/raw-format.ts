import type { BlockFormatDriver, BlockNode, BlockStatus, ImageDescription, InternalSnapshots, MeasureResult, ResizeOptions } from '@tessera/core';
import { codedError } from '@tessera/module-kit/coded-error';
import { RAW_OPEN_OPTIONS, rawWindow } from './open-options.ts';
import { RawWindowNode } from './raw-window.ts';

/** The raw format: guest bytes are the file's bytes. */
export const rawFormat: BlockFormatDriver = {
  name: 'raw',
  // Made by its protocol alone (no create of its own); its create options are the protocol's.
  capabilities: { directMapping: true },
  openOptions: RAW_OPEN_OPTIONS,
  async open(file, { driverOptions }) {
    const window = rawWindow(driverOptions, file.size);
    return window ? new RawWindowNode(file, window) : new RawNode(file);
  },
  // A raw image is its guest bytes: every size needs all of them (a source changes nothing).
  async measure(size, _options, source): Promise<MeasureResult> {
    const bytes = source ? source.size : size;
    return { required: bytes, fullyAllocated: bytes };
  },
};

class RawNode implements BlockNode {
  readonly driver = 'raw';

  /** Storage with snapshots of its own (rbd): qemu's raw driver hands snapshot commands to its file. */
  readonly internalSnapshots?: InternalSnapshots;

  constructor(readonly child: BlockNode) {
    if (child.internalSnapshots) this.internalSnapshots = child.internalSnapshots;
  }

  /** What the storage reports (rbd: its object size, snapshots), as qemu's raw get_info asks its file; absent for a plain file. */
  describe(): ImageDescription {
    return this.child.describe?.() ?? {};
  }

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
  /** The guest bytes are the file's: the file changes length. */
  async resize(size: number, options: ResizeOptions): Promise<void> {
    if (!this.child.resize) throw codedError('Image format driver does not support resize', 'unsupported-operation');
    await this.child.resize(size, options);
  }
  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    return this.child.blockStatus?.(offset, length) ?? { length, zero: false, data: true, offset, allocated: true };
  }
}
