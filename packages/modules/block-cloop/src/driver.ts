import type { BlockFormatDriver, BlockNode, BlockStatus, ImageDescription } from '@tessera/core';
import { CloopImage } from './cloop-image.ts';
import { HEADER_SIZE, parseHeader, parseOffsets } from './header.ts';
import { codedError } from './errors.ts';

/** The adapter to core's driver contract: read-only, as qemu's cloop driver. */
export const cloopFormat: BlockFormatDriver = {
  name: 'cloop',
  async open(file, options) {
    if (!options.readOnly) throw readOnlyFormat(file.filename);
    const head = new Uint8Array(Math.min(HEADER_SIZE, file.size));
    await file.read(0, head);
    const header = parseHeader(head, file.filename);
    const tableBytes = (header.blockCount + 1) * 8;
    // The table is read whole: it must be in the file, so its size is bounded by the file's.
    if (HEADER_SIZE + tableBytes > file.size) {
      throw codedError(`Could not open '${file.filename}': the offsets of ${header.blockCount} blocks do not fit in the file, image file is corrupt`, 'corrupt-image');
    }
    const table = new Uint8Array(tableBytes);
    await file.read(HEADER_SIZE, table);
    const offsets = parseOffsets(table, header, file.size, file.filename);
    return new CloopNode(file, header.blockSize * header.blockCount, new CloopImage(file, header, offsets));
  },
  // No create: qemu-img cannot make these images either (core refuses in qemu-img's words).
};

/** A read-only format opened for writing: qemu-img's words (its bdrv_apply_auto_read_only). */
function readOnlyFormat(filename: string): Error {
  return codedError(`Could not open '${filename}': Image is read-only`, 'unsupported-operation');
}

class CloopNode implements BlockNode {
  /** qemu's driver has no get_info: `info` shows no cluster size and no dirty flag. */
  describe(): ImageDescription {
    return { noDriverInfo: true };
  }
  readonly driver = 'cloop';
  readonly readOnly = true;

  constructor(
    readonly child: BlockNode,
    readonly size: number,
    private readonly image: CloopImage,
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
  /** As qemu (its cloop driver reports no block status): everything is data. */
  async blockStatus(_offset: number, length: number): Promise<BlockStatus> {
    return { length, zero: false, data: true, allocated: true };
  }
}
