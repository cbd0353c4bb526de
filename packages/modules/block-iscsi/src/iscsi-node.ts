import type { BlockNode, BlockStatus, ImageDescription, WriteZeroesOptions } from '@tessera/core';
import { openSession } from './connect.ts';
import { iscsiError } from './errors.ts';
import type { IscsiOptions } from './iscsi-options.ts';
import { iscsiImageName, type IscsiLocation } from './iscsi-url.ts';
import { probeLun, type LunInfo } from './lun-info.ts';
import * as S from './scsi.ts';
import type { CommandResult, Session } from './session.ts';

/** Logout waits at most this long for the target's answer: closing never hangs. */
const LOGOUT_DEADLINE_MS = 2000;

/** An iSCSI LUN as a byte-addressed node: reads and writes are READ(16)/WRITE(16) commands. */
export class IscsiNode implements BlockNode {
  readonly driver = 'iscsi';
  readonly size: number;
  readonly filename: string;
  /** One reconnect per node, and only while the connect deadline allows (see `run`). */
  private reconnecting: Promise<void> | undefined;

  private constructor(
    private session: Session,
    private readonly lun: LunInfo,
    private readonly location: IscsiLocation,
    private readonly options: IscsiOptions,
    readonly readOnly: boolean,
    driverOptions: Readonly<Record<string, string>>,
  ) {
    this.size = lun.blocks * lun.blockSize;
    this.filename = iscsiImageName(location, driverOptions);
  }

  static async open(location: IscsiLocation, options: IscsiOptions, readOnly: boolean, driverOptions: Readonly<Record<string, string>> = {}): Promise<IscsiNode> {
    const session = await openSession(location, options);
    try {
      const lun = await probeLun((cdb, transfer) => session.command(cdb, transfer), location.given, location.lun);
      return new IscsiNode(session, lun, location, options, readOnly, driverOptions);
    } catch (error) {
      session.fail(error as Error);
      const e = error as Error & { code?: string };
      if (e.message.startsWith('Could not open')) throw error;
      throw iscsiError(`Could not open '${location.given}': iSCSI: ${e.message.replace(`${location.shown}: `, '')}`, (e.code as 'iscsi-protocol') ?? 'iscsi-protocol', error);
    }
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    this.checkRange('read', offset, into.length);
    const bs = this.lun.blockSize;
    if (offset % bs !== 0 || into.length % bs !== 0) {
      // The LUN reads whole blocks: read those, copy the part asked for.
      const start = offset - (offset % bs);
      const span = new Uint8Array(Math.ceil((offset + into.length) / bs) * bs - start);
      await this.transfer('read', start, span);
      into.set(span.subarray(offset - start, offset - start + into.length));
      return;
    }
    await this.transfer('read', offset, into);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.checkWritable('write', offset, data.length);
    await this.transfer('write', offset, data);
  }

  async writeZeroes(offset: number, length: number, options: WriteZeroesOptions): Promise<void> {
    this.checkWritable('write-zeroes', offset, length);
    const bs = this.lun.blockSize;
    const lba = offset / bs;
    const blocks = length / bs;
    // Unmapping zeroes only where the LUN says unmapped blocks read as zeroes (LBPRZ, checked at open).
    if (options.mayUnmap && this.lun.writeSameUnmapBlocks > 0) {
      const zero = new Uint8Array(bs);
      for (let done = 0; done < blocks; done += this.lun.writeSameUnmapBlocks) {
        const n = Math.min(this.lun.writeSameUnmapBlocks, blocks - done);
        await this.run('WRITE SAME(16)', S.writeSame16(lba + done, n, true), { dataOut: zero });
      }
      return;
    }
    if (options.mayUnmap && this.lun.unmapBlocks > 0) {
      for (let done = 0; done < blocks; done += this.lun.unmapBlocks) {
        const { cdb, parameters } = S.unmap(lba + done, Math.min(this.lun.unmapBlocks, blocks - done));
        await this.run('UNMAP', cdb, { dataOut: parameters });
      }
      return;
    }
    const zeroes = new Uint8Array(Math.min(length, this.lun.maxTransferBlocks * bs));
    const parts: Promise<void>[] = [];
    for (let done = 0; done < length; done += zeroes.length) parts.push(this.transfer('write', offset + done, zeroes.subarray(0, Math.min(zeroes.length, length - done))));
    await settleAll(parts);
  }

  async flush(): Promise<void> {
    if (this.readOnly) return;
    const result = await this.session.command(S.synchronizeCache16());
    if (result.status === S.STATUS_GOOD) return;
    const sense = S.decodeSense(result.sense);
    // Targets without the 16-byte form answer ILLEGAL REQUEST / invalid opcode: use (10).
    if (sense?.key === S.SENSE_ILLEGAL_REQUEST && sense.asc === S.ASC_INVALID_OPCODE) {
      await this.run('SYNCHRONIZE CACHE(10)', S.synchronizeCache10());
      return;
    }
    this.checkResult('SYNCHRONIZE CACHE(16)', result);
  }

  async close(): Promise<void> {
    await this.session.logout(LOGOUT_DEADLINE_MS);
  }

  /** qemu's iscsi driver answers bdrv_get_info, so qemu-img info shows a (clean) dirty flag for raw on a LUN. */
  describe(): ImageDescription {
    return { dirty: false };
  }

  async allocatedSize(): Promise<number | undefined> {
    return undefined; // a LUN does not say what it occupies (qemu-img: "disk size: unavailable")
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    // No GET LBA STATUS: every block is data, as qemu reports a LUN without LBPME.
    return { length: Math.min(length, this.size - offset), zero: false, data: true, offset, allocated: true, file: this.filename };
  }

  /** A read or write as commands of at most maxReadBlocks or maxTransferBlocks, several in flight. */
  private async transfer(kind: 'read' | 'write', offset: number, buffer: Uint8Array): Promise<void> {
    const bs = this.lun.blockSize;
    const step = (kind === 'read' ? this.lun.maxReadBlocks : this.lun.maxTransferBlocks) * bs;
    const parts: Promise<void>[] = [];
    for (let done = 0; done < buffer.length; done += step) {
      const part = buffer.subarray(done, Math.min(done + step, buffer.length));
      const lba = (offset + done) / bs;
      parts.push(
        kind === 'read'
          ? this.run('READ(16)', S.read16(lba, part.length / bs), { dataIn: part }).then((result) => {
              if (result.received !== part.length) throw iscsiError(`${this.location.shown}: the target returned ${result.received} of ${part.length} bytes read at offset ${offset + done}`, 'iscsi-protocol');
            })
          : this.run('WRITE(16)', S.write16(lba, part.length / bs), { dataOut: part }).then(() => undefined),
      );
    }
    await settleAll(parts);
  }

  /**
   * One command; GOOD or a one-line error. When the connection dropped, log in again once (within
   * the connect deadline) and repeat it: READ/WRITE/WRITE SAME/UNMAP are idempotent.
   */
  private async run(name: string, cdb: Uint8Array, transfer: { dataIn?: Uint8Array; dataOut?: Uint8Array } = {}): Promise<CommandResult> {
    let result: CommandResult;
    try {
      result = await this.session.command(cdb, transfer);
    } catch (error) {
      if ((error as { code?: string }).code !== 'iscsi-disconnected') throw error;
      await this.reconnect(error as Error);
      result = await this.session.command(cdb, transfer);
    }
    this.checkResult(name, result);
    return result;
  }

  private reconnect(cause: Error): Promise<void> {
    if (this.reconnecting) return this.reconnecting;
    this.reconnecting = (async () => {
      try {
        this.session = await openSession(this.location, this.options);
      } catch (error) {
        throw iscsiError(`${cause.message}; reconnecting failed: ${(error as Error).message.replace(/^Could not open '[^']*': /, '')}`, 'iscsi-disconnected', error);
      }
    })();
    return this.reconnecting;
  }

  private checkResult(name: string, result: CommandResult): void {
    if (result.status === S.STATUS_GOOD) return;
    const sense = S.decodeSense(result.sense);
    const code = sense?.key === S.SENSE_DATA_PROTECT ? 'EPERM' : 'iscsi-check-condition';
    throw iscsiError(`${this.location.shown}: ${name} failed: ${sense ? S.describeSense(sense) : `SCSI status 0x${result.status.toString(16)}`}`, code);
  }

  private checkRange(what: string, offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw iscsiError(`${this.location.shown}: ${what} of ${length} bytes at offset ${offset} is beyond the end of the LUN (${this.size} bytes)`, 'invalid-option');
    }
  }

  private checkWritable(what: string, offset: number, length: number): void {
    if (this.readOnly) throw iscsiError(`${this.location.shown}: cannot ${what} ${length} bytes at offset ${offset}: the image is open read-only`, 'EPERM');
    this.checkRange(what, offset, length);
    if (offset % this.lun.blockSize !== 0 || length % this.lun.blockSize !== 0) {
      throw iscsiError(`${this.location.shown}: ${what} of ${length} bytes at offset ${offset} is not aligned to the LUN's block size (${this.lun.blockSize})`, 'unsupported-operation');
    }
  }
}

/** Wait for all; the first failure is thrown after every part has ended (no write still in flight). */
async function settleAll(parts: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(parts);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
