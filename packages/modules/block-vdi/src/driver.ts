// The adapter to core's driver contract: everything format-specific is in layout.ts, block-map.ts
// and create.ts.
import type { BlockFormatDriver, BlockNode, BlockStatus, CheckResult, ImageDescription } from '@tessera/core';
import { codedError } from './errors.ts';
import { BlockMap } from './block-map.ts';
import { createOptionTable, parseCreateOptions } from './create-options.ts';
import { createVdi } from './create.ts';
import { HEADER_SIZE, parseHeader } from './layout.ts';

export const vdiFormat: BlockFormatDriver = {
  name: 'vdi',
  createOptions: createOptionTable,
  async open(file, { readOnly }) {
    const bytes = new Uint8Array(Math.min(HEADER_SIZE, file.size));
    await file.read(0, bytes);
    const header = parseHeader(bytes, file.size);
    return new VdiNode(file, await BlockMap.load(file, header), readOnly || file.readOnly);
  },
  async create(file, { size, formatOptions }) {
    await createVdi(file, size, parseCreateOptions(formatOptions));
  },
};

class VdiNode implements BlockNode {
  readonly driver = 'vdi';

  constructor(
    readonly child: BlockNode,
    private readonly map: BlockMap,
    readonly readOnly: boolean,
  ) {}

  get filename(): string {
    return this.child.filename;
  }
  get size(): number {
    return this.map.header.diskSize;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    this.inRange(offset, into.length);
    await this.eachBlock(offset, into.length, async (block, within, at, length) => {
      const host = this.map.hostOffset(block);
      const part = into.subarray(at, at + length);
      if (host === undefined) part.fill(0);
      else await this.child.read(host + within, part);
    });
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.readOnly) throw codedError(`${this.filename}: the image is opened read-only`, 'unsupported-operation');
    this.inRange(offset, data.length);
    const blockSize = this.map.header.blockSize;
    await this.eachBlock(offset, data.length, async (block, within, at, length) => {
      const part = data.subarray(at, at + length);
      const { offset: host, fresh } = await this.map.allocate(block, async () => {
        // A new block holds this write and zeroes elsewhere, written whole at once.
        const whole = new Uint8Array(blockSize);
        whole.set(part, within);
        return whole;
      });
      if (!fresh) await this.child.write(host + within, part);
    });
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
    const blockSize = this.map.header.blockSize;
    const first = Math.floor(offset / blockSize);
    const host = this.map.hostOffset(first);
    let end = Math.min((first + 1) * blockSize, offset + length, this.size);
    // Contiguous runs of the same kind (and, for data, of consecutive host blocks) are one answer.
    for (let block = first + 1; end < Math.min(offset + length, this.size); block++) {
      const next = this.map.hostOffset(block);
      const same = host === undefined ? next === undefined : next === host + (block - first) * blockSize;
      if (!same) break;
      end = Math.min((block + 1) * blockSize, offset + length, this.size);
    }
    if (host === undefined) return { length: end - offset, zero: true, data: false, allocated: true };
    const at = host + (offset - first * blockSize);
    // As qemu, the file is asked too: a hole in it (a static image's untouched blocks) reads as zeroes.
    const inFile = await this.child.blockStatus?.(at, end - offset);
    const run = inFile ? Math.min(inFile.length, end - offset) : end - offset;
    return { length: run, zero: inFile?.zero ?? false, data: true, allocated: true, offset: at, file: this.child.filename };
  }

  describe(): ImageDescription {
    return { clusterSize: this.map.header.blockSize, dirty: false };
  }

  async check(): Promise<CheckResult> {
    return this.map.check();
  }

  private inRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw new Error(`${this.filename}: access of ${length} bytes at ${offset} is beyond the end of the image (${this.size} bytes)`);
    }
  }

  private async eachBlock(offset: number, length: number, visit: (block: number, within: number, at: number, length: number) => Promise<void>): Promise<void> {
    const blockSize = this.map.header.blockSize;
    for (let at = 0; at < length; ) {
      const block = Math.floor((offset + at) / blockSize);
      const within = (offset + at) % blockSize;
      const n = Math.min(length - at, blockSize - within);
      await visit(block, within, at, n);
      at += n;
    }
  }
}
