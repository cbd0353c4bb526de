/** The adapter between core's driver contract and the VMDK knowledge in the other files. */
import type { BlockFormatDriver, BlockNode, BlockOpenOptions, BlockStatus, CheckResult, ImageDescription, WriteZeroesOptions } from '@tessera/core';
import { createVmdk } from './create.ts';
import { VMDK_CREATE_OPTIONS } from './create-options.ts';
import { unsupportedOperation } from './errors.ts';
import type { Extent } from './extent.ts';
import { openVmdk, type OpenedVmdk } from './open.ts';
import { parseCreateOptions } from './options.ts';

export const vmdkFormat: BlockFormatDriver = {
  name: 'vmdk',
  createOptions: VMDK_CREATE_OPTIONS,
  // streamOptimized deflates every grain; qemu-img accepts `convert -c` for every subformat.
  capabilities: { backingFile: true, compression: true },
  async open(file: BlockNode, options: BlockOpenOptions): Promise<BlockNode> {
    return new VmdkNode(file, await openVmdk(file, options), options.readOnly);
  },
  async create(file, { size, formatOptions, createRelative, openRelative }) {
    await createVmdk(file, size, parseCreateOptions(formatOptions), { ...(createRelative ? { createRelative } : {}), ...(openRelative ? { openRelative } : {}) });
  },
};

class VmdkNode implements BlockNode {
  readonly driver = 'vmdk';
  readonly size: number;
  readonly backing?: BlockNode;
  private readonly extents: readonly Extent[];
  /** Guest offset where each extent starts. */
  private readonly starts: number[];

  constructor(
    readonly child: BlockNode,
    private readonly opened: OpenedVmdk,
    readonly readOnly: boolean,
  ) {
    this.extents = opened.extents;
    this.starts = [];
    let at = 0;
    for (const extent of this.extents) {
      this.starts.push(at);
      at += extent.length;
    }
    this.size = at;
    if (opened.backing) this.backing = opened.backing;
  }

  get filename(): string {
    return this.child.filename;
  }

  /** The extent holding guest byte `offset` (binary search over the starts). */
  private extentAt(offset: number): number {
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.starts[middle]! <= offset) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  /** Split `[offset, offset+length)` at extent boundaries. */
  private async eachPiece(offset: number, length: number, work: (extent: Extent, at: number, from: number, bytes: number) => Promise<void>): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw new RangeError(`${this.filename}: access of ${length} bytes at offset ${offset} is beyond the end of the image (${this.size} bytes)`);
    }
    const pieces: Promise<void>[] = [];
    for (let done = 0; done < length; ) {
      const index = this.extentAt(offset + done);
      const extent = this.extents[index]!;
      const at = offset + done - this.starts[index]!;
      const bytes = Math.min(length - done, extent.length - at);
      pieces.push(work(extent, at, done, bytes));
      done += bytes;
    }
    await Promise.all(pieces);
  }

  read(offset: number, into: Uint8Array): Promise<void> {
    return this.eachPiece(offset, into.length, (extent, at, from, bytes) => extent.read(at, into.subarray(from, from + bytes)));
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    this.refuseReadOnly();
    return this.eachPiece(offset, data.length, (extent, at, from, bytes) => {
      if (!extent.writable) throw unsupportedOperation(`${this.filename}: the extent at guest offset ${offset + from} is read-only`);
      return extent.write(at, data.subarray(from, from + bytes));
    });
  }

  /** `convert -c`: a stream deflates every grain anyway; other extents store it plain, as qemu's vmdk does. */
  writeCompressed(offset: number, data: Uint8Array): Promise<void> {
    return this.write(offset, data);
  }

  writeZeroes(offset: number, length: number, _options: WriteZeroesOptions): Promise<void> {
    this.refuseReadOnly();
    return this.eachPiece(offset, length, async (extent, at, _from, bytes) => {
      if (extent.zero && (await extent.zero(at, bytes))) return;
      const zeroes = new Uint8Array(Math.min(bytes, 1024 * 1024));
      for (let done = 0; done < bytes; done += zeroes.length) await extent.write(at + done, zeroes.subarray(0, Math.min(zeroes.length, bytes - done)));
    });
  }

  private refuseReadOnly(): void {
    if (this.readOnly) throw unsupportedOperation(`${this.filename}: the image is open read-only`);
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const index = this.extentAt(offset);
    const extent = this.extents[index]!;
    const at = offset - this.starts[index]!;
    const status = await extent.status(at, Math.min(length, extent.length - at));
    return status;
  }

  async flush(): Promise<void> {
    for (const extent of this.extents) await extent.flush();
    await this.child.flush();
  }

  async close(): Promise<void> {
    try {
      for (const extent of this.extents) await extent.finish?.();
    } finally {
      for (const file of this.opened.extentFiles) await file.close();
      await this.opened.backing?.close();
      await this.child.close();
    }
  }

  /**
   * qemu's vmdk check: every allocated grain must start inside its file. It stops at the first
   * that does not, and the check fails (qemu-img: "Check failed: Invalid argument"). Nothing is repaired.
   */
  async check(): Promise<CheckResult> {
    for (let index = 0; index < this.extents.length; index++) {
      const finding = await this.extents[index]!.check?.(this.starts[index]! / 512);
      if (finding !== undefined) throw Object.assign(new Error('Invalid argument'), { messages: [finding] });
    }
    return { corruptions: 0, leaks: 0, checkErrors: 0, corruptionsFixed: 0, leaksFixed: 0, messages: [] };
  }

  async allocatedSize(): Promise<number | undefined> {
    let total = (await this.child.allocatedSize?.()) ?? undefined;
    for (const file of this.opened.extentFiles) {
      const bytes = await file.allocatedSize?.();
      if (bytes === undefined || total === undefined) return undefined;
      total += bytes;
    }
    return total;
  }

  describe(): ImageDescription {
    const { descriptor } = this.opened;
    // qemu reports the first extent's grain as the image's cluster size: none when it is flat, or
    // when the extents differ in kind (flat, compressed) or grain size.
    const kinds = new Set(this.extents.map((extent) => { const info = extent.info(); return `${info.format === 'FLAT' || info.format === 'VMFS'}/${info.compressed}/${info['cluster-size']}`; }));
    // Mixed kinds: qemu's get_info fails, so `info` shows neither a cluster size nor a dirty flag.
    const clusterSize = kinds.size === 1 ? (this.extents[0]!.info()['cluster-size'] as number | undefined) : undefined;
    return {
      ...(kinds.size === 1 ? {} : { noDriverInfo: true }),
      ...(clusterSize !== undefined ? { clusterSize } : {}),
      ...(this.backing && descriptor.parentFileNameHint !== undefined ? { backingFile: descriptor.parentFileNameHint, backingFormat: 'vmdk' } : {}),
      formatSpecific: {
        type: 'vmdk',
        data: {
          cid: descriptor.cid,
          'parent-cid': descriptor.parentCid,
          'create-type': descriptor.createType,
          extents: this.extents.map((extent) => extent.info()),
        },
      },
    };
  }
}
