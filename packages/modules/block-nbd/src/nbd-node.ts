import type { BlockNode, BlockStatus, WriteZeroesOptions } from '@tessera/core';
import * as C from './constants.ts';
import { nbdError } from './errors.ts';
import { StatusCache } from './status-cache.ts';
import type { Extent, Transmission } from './transmission.ts';

/**
 * Largest read or write sent as one request: big transfers become several, sent together
 * (pipelined, one writev). Not larger: qemu-nbd gives each request a buffer of its own, and a
 * fresh qemu-nbd took a page fault for every 4 KiB it served in 2 MiB requests. Copying 1 GiB
 * from one, its faults and CPU by request size: 2 MiB 262,000 and 3.4-3.9 s, 1 MiB 122,000 and
 * 1.9 s, 512 KiB 14,000-33,000 and 0.5-0.7 s (256 KiB: fewer still, but our client's CPU per byte
 * rises). nbdcopy's default is 256 KiB.
 */
const MAX_TRANSFER = 512 * 1024;
/** Largest range asked about in one block status request (its length field is 32 bits). */
const MAX_STATUS_QUERY = 1 << 30;

/** An NBD export as a byte-addressed node: every operation is one or more NBD requests. */
export class NbdNode implements BlockNode {
  readonly driver = 'nbd';
  readonly size: number;
  /** What block status replies told, so `map` and `convert` ask once per reply rather than once per extent. */
  private readonly known = new StatusCache();
  /** For each block status request in flight, the ranges written meanwhile (its reply may predate them). */
  private readonly writtenDuringQueries = new Set<Array<[number, number]>>();
  /** Block status requests in flight: convert's workers start together, and one answer serves them all. */
  private readonly asking = new Set<{ readonly start: number; readonly end: number; readonly reply: Promise<unknown> }>();

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
    const parts = this.dataParts(offset, into.length);
    if (!parts) return this.transfer(C.CMD_READ, offset, into);
    const reads = parts.map(([start, end]) => this.transfer(C.CMD_READ, start, into.subarray(start - offset, end - offset)));
    let at = offset;
    for (const [start, end] of parts) {
      into.fill(0, at - offset, start - offset);
      at = end;
    }
    into.fill(0, at - offset);
    const results = await Promise.allSettled(reads);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * The parts of `[offset, offset + length)` to ask the server for, when block status (asked
   * before: convert, compare and map do) said some of it reads as zeroes: those are filled here,
   * as qemu-img reads only data extents. A server answers a read over zeroes with hole chunks,
   * but still prepares a buffer for all of it: qemu-nbd serving a qcow2 used 5x the CPU for
   * convert's 2 MiB reads (a page fault per page of each fresh buffer, in this VM a hypervisor
   * exit) than for qemu-img's reads of the data alone. Undefined when nothing of it is known to
   * read as zeroes: one read of all of it.
   */
  private dataParts(offset: number, length: number): Array<[number, number]> | undefined {
    const parts: Array<[number, number]> = [];
    let zeroes = false;
    const end = offset + length;
    for (let at = offset; at < end; ) {
      const run = this.known.lookup(at);
      const stop = run ? Math.min(end, at + run.length) : end; // unknown: read the rest
      if (run && run.flags & C.STATE_ZERO) zeroes = true;
      else if (parts.length && parts[parts.length - 1]![1] === at) parts[parts.length - 1]![1] = stop;
      else parts.push([at, stop]);
      at = stop;
    }
    return zeroes ? parts : undefined;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.checkWritable('write', offset, data.length);
    this.forget(offset, offset + data.length);
    await this.transfer(C.CMD_WRITE, offset, data);
  }

  async writeZeroes(offset: number, length: number, options: WriteZeroesOptions): Promise<void> {
    this.checkWritable('write-zeroes', offset, length);
    this.forget(offset, offset + length);
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
    this.known.clear();
    await this.connection.disconnect();
  }

  async allocatedSize(): Promise<number | undefined> {
    // NBD does not say how much of its storage an export occupies (qemu-img: "disk size: unavailable").
    return undefined;
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    length = Math.min(length, this.size - offset);
    if (this.connection.info.contexts.allocation === undefined) return { length, zero: false, data: true, offset, allocated: true, file: this.filename };
    // Asked without a pause after looking: workers starting together then find each other's request.
    const extent =
      this.known.lookup(offset) ?? (await (this.askedAlready(offset) ?? this.queryStatus(offset, length))) ?? (await this.queryStatus(offset, length));
    const run = Math.min(length, extent.length);
    const zero = (extent.flags & C.STATE_ZERO) !== 0;
    const data = (extent.flags & C.STATE_HOLE) === 0;
    // A run neither data nor zero (possible with x-dirty-bitmap's contexts) is unallocated: qemu gives it no offset.
    return { length: run, zero, data, ...(data || zero ? { offset, file: this.filename } : {}) };
  }

  /** A request in flight that covers `offset`: what it tells of it, once answered (undefined: it fell short). */
  private askedAlready(offset: number): Promise<Extent | undefined> | undefined {
    for (const query of this.asking) {
      if (offset >= query.start && offset < query.end) return query.reply.then(() => this.known.lookup(offset), () => undefined);
    }
    return undefined;
  }

  private async queryStatus(offset: number, length: number): Promise<Extent> {
    const min = this.connection.info.minimumBlock;
    const start = offset - (offset % min);
    const end = Math.min(this.size, Math.ceil((offset + Math.min(length, MAX_STATUS_QUERY)) / min) * min);
    const written: Array<[number, number]> = [];
    this.writtenDuringQueries.add(written);
    // Registered before the first pause, and settled once its answer is kept.
    const query = { start, end, reply: this.keepStatus(start, end, written) };
    this.asking.add(query);
    await query.reply.finally(() => {
      this.writtenDuringQueries.delete(written);
      this.asking.delete(query);
    });
    // Written while asked about: data (flags 0) is what is safe to say.
    const found = this.known.lookup(offset) ?? (written.length ? { length: Math.min(length, end - offset), flags: 0 } : undefined);
    if (!found) throw nbdError(`${this.filename}: the server's block status at offset ${start} does not reach offset ${offset}`, 'nbd-protocol');
    return found;
  }

  /** Ask the server about `[start, end)` and keep its answer, less what was `written` meanwhile. */
  private async keepStatus(start: number, end: number, written: ReadonlyArray<[number, number]>): Promise<void> {
    const reply = await this.connection.request(C.CMD_BLOCK_STATUS, 0, start, end - start);
    // Extents past the end of the export are dropped: the server may send more than asked.
    const list: Extent[] = [];
    let at = start;
    for (const extent of reply.allocation ?? []) {
      if (at >= this.size) break;
      list.push({ length: Math.min(extent.length, this.size - at), flags: extent.flags });
      at += extent.length;
    }
    this.known.add(start, list);
    for (const [from, to] of written) this.known.forget(from, to);
  }

  /** `[start, end)` is being written: what block status said of it no longer holds. */
  private forget(start: number, end: number): void {
    this.known.forget(start, end);
    for (const written of this.writtenDuringQueries) written.push([start, end]);
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
