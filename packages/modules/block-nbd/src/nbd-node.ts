import type { BlockNode, BlockStatus, WriteZeroesOptions } from '@tessera/core';
import * as C from './constants.ts';
import { nbdError } from './errors.ts';
import type { Extent, Transmission } from './transmission.ts';

/** Largest read or write sent as one request: big transfers become several, sent together (pipelined). */
const MAX_TRANSFER = 4 * 1024 * 1024;
/** Largest range asked about in one block status request (its length field is 32 bits). */
const MAX_STATUS_QUERY = 1 << 30;
/**
 * Block status replies kept: convert's workers (8 by default) each ask about their own chunk, so
 * one kept reply would be replaced by another worker's before its owner asks again.
 */
const KEPT_REPLIES = 16;

/** An NBD export as a byte-addressed node: every operation is one or more NBD requests. */
export class NbdNode implements BlockNode {
  readonly driver = 'nbd';
  readonly size: number;
  /** The last block status replies, newest last, so `map` and `convert` ask once per reply rather than once per extent. */
  private replies: { start: number; list: Extent[] }[] = [];

  constructor(
    private readonly connection: Transmission,
    readonly filename: string,
    readonly readOnly: boolean,
  ) {
    this.size = connection.info.size;
  }

  private get flags(): number {
    return this.connection.info.transmissionFlags;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    this.checkRange('read', offset, into.length);
    const min = this.connection.info.minimumBlock;
    if (offset % min !== 0 || into.length % min !== 0) {
      // The server takes only whole blocks of its minimum size: read those, copy the part asked.
      const start = offset - (offset % min);
      const end = Math.min(this.size, Math.ceil((offset + into.length) / min) * min);
      const span = new Uint8Array(end - start);
      await this.transfer(C.CMD_READ, start, span);
      into.set(span.subarray(offset - start, offset - start + into.length));
      return;
    }
    await this.transfer(C.CMD_READ, offset, into);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.checkWritable('write', offset, data.length);
    this.replies = [];
    await this.transfer(C.CMD_WRITE, offset, data);
  }

  async writeZeroes(offset: number, length: number, options: WriteZeroesOptions): Promise<void> {
    this.checkWritable('write-zeroes', offset, length);
    this.replies = [];
    if (!(this.flags & C.FLAG_SEND_WRITE_ZEROES) || !this.aligned(offset, length)) {
      const zeroes = new Uint8Array(Math.min(length, MAX_TRANSFER));
      for (let done = 0; done < length; done += zeroes.length) {
        await this.write(offset + done, zeroes.subarray(0, Math.min(zeroes.length, length - done)));
      }
      return;
    }
    // Without NO_HOLE the server may punch holes (qemu's BDRV_REQ_MAY_UNMAP).
    const flags = options.mayUnmap ? 0 : C.CMD_FLAG_NO_HOLE;
    const step = this.connection.info.maximumBlock - (this.connection.info.maximumBlock % this.connection.info.minimumBlock);
    const parts: Promise<unknown>[] = [];
    for (let done = 0; done < length; done += step) {
      parts.push(this.connection.request(C.CMD_WRITE_ZEROES, flags, offset + done, Math.min(step, length - done)));
    }
    await Promise.all(parts);
  }

  async flush(): Promise<void> {
    if (this.readOnly || !(this.flags & C.FLAG_SEND_FLUSH)) return;
    await this.connection.request(C.CMD_FLUSH, 0, 0, 0);
  }

  async close(): Promise<void> {
    this.replies = [];
    await this.connection.disconnect();
  }

  async allocatedSize(): Promise<number | undefined> {
    // NBD does not say how much of its storage an export occupies (qemu-img: "disk size: unavailable").
    return undefined;
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    length = Math.min(length, this.size - offset);
    if (this.connection.info.contexts.allocation === undefined) return { length, zero: false, data: true, offset, allocated: true, file: this.filename };
    const extent = this.cachedExtent(offset) ?? (await this.queryStatus(offset, length));
    const run = Math.min(length, extent.length);
    const zero = (extent.flags & C.STATE_ZERO) !== 0;
    const data = (extent.flags & C.STATE_HOLE) === 0;
    // A run neither data nor zero (possible with x-dirty-bitmap's contexts) is unallocated: qemu gives it no offset.
    return { length: run, zero, data, ...(data || zero ? { offset, file: this.filename } : {}) };
  }

  /** The extent holding `offset` in a kept reply (the newest that has it), trimmed to start there. */
  private cachedExtent(offset: number): Extent | undefined {
    for (let i = this.replies.length - 1; i >= 0; i--) {
      const reply = this.replies[i]!;
      let at = reply.start;
      for (const extent of reply.list) {
        if (offset >= at && offset < at + extent.length) return { length: at + extent.length - offset, flags: extent.flags };
        at += extent.length;
      }
    }
    return undefined;
  }

  private async queryStatus(offset: number, length: number): Promise<Extent> {
    const min = this.connection.info.minimumBlock;
    const start = offset - (offset % min);
    const end = Math.min(this.size, Math.ceil((offset + Math.min(length, MAX_STATUS_QUERY)) / min) * min);
    const reply = await this.connection.request(C.CMD_BLOCK_STATUS, 0, start, end - start);
    // Extents past the request, or past the end of the export, are dropped: the server may send more than asked.
    const list: Extent[] = [];
    let at = start;
    for (const extent of reply.allocation ?? []) {
      if (at >= this.size) break;
      list.push({ length: Math.min(extent.length, this.size - at), flags: extent.flags });
      at += extent.length;
    }
    this.replies.push({ start, list });
    if (this.replies.length > KEPT_REPLIES) this.replies.shift();
    const found = this.cachedExtent(offset);
    if (!found) throw nbdError(`${this.filename}: the server's block status at offset ${start} does not reach offset ${offset}`, 'nbd-protocol');
    return found;
  }

  /** One operation as requests of at most MAX_TRANSFER bytes, all in flight at once. */
  private async transfer(command: number, offset: number, buffer: Uint8Array): Promise<void> {
    const step = Math.min(MAX_TRANSFER, this.connection.info.maximumBlock);
    const parts: Promise<unknown>[] = [];
    for (let done = 0; done < buffer.length; done += step) {
      const part = buffer.subarray(done, Math.min(done + step, buffer.length));
      parts.push(
        command === C.CMD_READ
          ? this.connection.request(C.CMD_READ, 0, offset + done, part.length, undefined, part)
          : this.connection.request(C.CMD_WRITE, 0, offset + done, part.length, part),
      );
    }
    const results = await Promise.allSettled(parts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private aligned(offset: number, length: number): boolean {
    const min = this.connection.info.minimumBlock;
    return offset % min === 0 && length % min === 0;
  }

  private checkRange(what: string, offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw nbdError(`${this.filename}: ${what} of ${length} bytes at offset ${offset} is beyond the end of the export (${this.size} bytes)`, 'invalid-option');
    }
  }

  private checkWritable(what: string, offset: number, length: number): void {
    if (this.readOnly) throw nbdError(`${this.filename}: cannot ${what} ${length} bytes at offset ${offset}: the image is open read-only`, 'EPERM');
    this.checkRange(what, offset, length);
    if (what === 'write' && !this.aligned(offset, length)) {
      throw nbdError(
        `${this.filename}: write of ${length} bytes at offset ${offset} is not aligned to the server's minimum block size (${this.connection.info.minimumBlock})`,
        'unsupported-operation',
      );
    }
  }
}
