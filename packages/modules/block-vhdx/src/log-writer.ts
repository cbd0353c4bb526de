import type { BlockNode } from '@tessera/core';
import { crc32c } from './crc32c.ts';

/**
 * Writes metadata updates through the log, as the VHDX specification asks of a writer: each
 * update (whole 4 KiB sectors) is first written as a log entry and flushed, then written in
 * place and flushed. A crash at any point leaves either the old metadata or a log whose replay
 * (by qemu-img, Hyper-V or this driver) completes the update. Every entry is applied before the
 * next is written, so each is its own tail: a replay needs only the newest. The image names a
 * new log GUID for each update (qemu's way), so no older entry ever counts.
 */
const SECTOR = 4096;

export interface SectorUpdate {
  readonly fileOffset: number;
  readonly data: Uint8Array;
}

export class LogWriter {
  private head = 0;
  private sequence: bigint;

  constructor(
    private readonly file: BlockNode,
    private readonly log: { readonly offset: number; readonly length: number },
    private readonly logGuid: Uint8Array,
  ) {
    // Above any sequence number a stale entry in the log may carry: random high bits.
    this.sequence = (BigInt(crypto.getRandomValues(new Uint32Array(1))[0]!) << 24n) + 1n;
  }

  /** Log the updates, then apply them. */
  async write(updates: readonly SectorUpdate[]): Promise<void> {
    const entry = this.encode(updates);
    if (this.head + entry.length > this.log.length) this.head = 0;
    await this.file.write(this.log.offset + this.head, entry);
    await this.file.flush();
    for (const update of updates) await this.file.write(update.fileOffset, update.data);
    await this.file.flush();
    this.head += entry.length;
    this.sequence++;
  }

  private encode(updates: readonly SectorUpdate[]): Uint8Array {
    const descriptorSectors = Math.ceil((64 + updates.length * 32) / SECTOR);
    const entry = new Uint8Array((descriptorSectors + updates.length) * SECTOR);
    const view = new DataView(entry.buffer);
    view.setUint32(0, 0x65676f6c, true); // "loge"
    view.setUint32(8, entry.length, true);
    view.setUint32(12, this.head, true); // its own tail
    view.setBigUint64(16, this.sequence, true);
    view.setUint32(24, updates.length, true);
    entry.set(this.logGuid, 32);
    view.setBigUint64(48, BigInt(this.file.size), true); // FlushedFileOffset
    view.setBigUint64(56, BigInt(this.file.size), true); // LastFileOffset
    updates.forEach((update, i) => {
      const d = 64 + i * 32;
      const sector = (descriptorSectors + i) * SECTOR;
      view.setUint32(d, 0x63736564, true); // "desc"
      entry.set(update.data.subarray(4092, 4096), d + 4); // trailing bytes
      entry.set(update.data.subarray(0, 8), d + 8); // leading bytes
      view.setBigUint64(d + 16, BigInt(update.fileOffset), true);
      view.setBigUint64(d + 24, this.sequence, true);
      view.setUint32(sector, 0x61746164, true); // "data"
      view.setUint32(sector + 4, Number(this.sequence >> 32n), true);
      entry.set(update.data.subarray(8, 4092), sector + 8);
      view.setUint32(sector + 4092, Number(this.sequence & 0xffffffffn), true);
    });
    view.setUint32(4, crc32c(entry, 4), true);
    return entry;
  }
}
