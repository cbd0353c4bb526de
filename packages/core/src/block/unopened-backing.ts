import type { BlockNode } from './types.ts';

/**
 * Stands in for a backing file deliberately left unopened (qemu's BDRV_O_NO_BACKING, as
 * `qemu-img info` opens images): the image's metadata can be read when its backing file is
 * missing or is something that must not be opened (a FIFO); any read of guest data through it fails.
 */
export class UnopenedBacking implements BlockNode {
  readonly driver = 'none';
  readonly size = 0;
  readonly readOnly = true;
  constructor(readonly filename: string) {}
  read(): Promise<void> {
    return Promise.reject(new Error(`the backing file '${this.filename}' is not open`));
  }
  write(): Promise<void> {
    return Promise.reject(new Error(`the backing file '${this.filename}' is not open`));
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
