import type { BlockNode } from '@tessera/core';
import { crc32c } from './crc32c.ts';
import { corrupt, unsupported } from './errors.ts';
import { sameGuid } from './guid.ts';
import { HEADER_SECTION_END, MiB, type VhdxHeader } from './header.ts';

/**
 * The log (VHDX specification 2.4): a circular buffer of entries, each a header, descriptors
 * and data sectors, all in 4 KiB sectors. An image whose header names a log GUID has metadata
 * updates that may not have reached their place; they are replayed before anything else is read.
 */
const SECTOR = 4096;
const ENTRY_SIGNATURE = 0x65676f6c; // "loge"
const ZERO_SIGNATURE = 0x6f72657a; // "zero"
const DESC_SIGNATURE = 0x63736564; // "desc"
const DATA_SIGNATURE = 0x61746164; // "data"
/** The largest log read into memory; qemu-img writes 1 MiB logs, Hyper-V 1 MiB too. */
const MAX_LOG = 64 * MiB;
/** How far a replay may grow the file: one block of the largest size. */
const MAX_GROWTH = 256 * MiB;

/** One write the log records: bytes at a file offset (zeroes for a zero descriptor). */
export interface LogWrite {
  readonly fileOffset: number;
  readonly data?: Uint8Array;
  readonly zeroLength?: number;
}

interface Entry {
  readonly at: number;
  readonly length: number;
  readonly tail: number;
  readonly sequence: bigint;
  readonly flushedFileOffset: number;
  readonly lastFileOffset: number;
  readonly writes: readonly LogWrite[];
}

/** Where the log lies, checked: 1 MiB aligned, past the header section, inside the file. */
export function logRegion(header: VhdxHeader, file: BlockNode): { offset: number; length: number } {
  const offset = header.logOffset;
  const length = header.logLength;
  if (offset % BigInt(MiB) !== 0n || length % MiB !== 0 || offset < BigInt(HEADER_SECTION_END) || offset + BigInt(length) > BigInt(file.size)) {
    throw corrupt(file.filename, `The log (offset ${offset}, length ${length}) is not a 1 MiB aligned range inside the file`);
  }
  return { offset: Number(offset), length };
}

/**
 * The active sequence of a dirty log, in the order to replay it: of the valid entries, the one
 * with the highest sequence number whose tail leads to it through entries of consecutive
 * sequence numbers. Undefined when no entry is valid (nothing to replay).
 */
export async function readActiveSequence(file: BlockNode, header: VhdxHeader): Promise<{ entries: Entry[]; lastFileOffset: number } | undefined> {
  const { offset, length } = logRegion(header, file);
  if (length > MAX_LOG) throw unsupported(file.filename, `The log is ${length} bytes; logs larger than ${MAX_LOG} bytes are not replayed`);
  const log = new Uint8Array(length);
  await file.read(offset, log);
  const found = new Map<number, Entry>();
  for (let at = 0; at < length; at += SECTOR) {
    const entry = parseEntry(log, at, header.logGuid, file.size);
    if (entry) found.set(at, entry);
  }
  const byHead = [...found.values()].sort((a, b) => (a.sequence > b.sequence ? -1 : a.sequence < b.sequence ? 1 : 0));
  for (const head of byHead) {
    const chain: Entry[] = [];
    let entry = found.get(head.tail);
    // Each step moves forward by a whole entry: a chain cannot be longer than the log's entries.
    while (entry && chain.length <= found.size) {
      chain.push(entry);
      if (entry === head) return { entries: chain, lastFileOffset: head.lastFileOffset };
      const next = found.get((entry.at + entry.length) % length);
      if (!next || next.sequence !== entry.sequence + 1n) break;
      entry = next;
    }
  }
  return undefined;
}

/** Copy `length` bytes of the circular log from `at`. */
function circular(log: Uint8Array, at: number, length: number): Uint8Array {
  if (at + length <= log.length) return log.subarray(at, at + length);
  const bytes = new Uint8Array(length);
  const first = log.length - at;
  bytes.set(log.subarray(at), 0);
  bytes.set(log.subarray(0, length - first), first);
  return bytes;
}

function parseEntry(log: Uint8Array, at: number, logGuid: Uint8Array, fileSize: number): Entry | undefined {
  const head = new DataView(log.buffer, log.byteOffset + at, SECTOR);
  if (head.getUint32(0, true) !== ENTRY_SIGNATURE) return undefined;
  const length = head.getUint32(8, true);
  const tail = head.getUint32(12, true);
  const sequence = head.getBigUint64(16, true);
  const descriptors = head.getUint32(24, true);
  if (length < SECTOR || length % SECTOR !== 0 || length > log.length || tail % SECTOR !== 0 || tail >= log.length || sequence === 0n) return undefined;
  if (!sameGuid(log.subarray(at + 32, at + 48), logGuid)) return undefined;
  const descriptorSectors = Math.ceil((64 + descriptors * 32) / SECTOR);
  if (descriptorSectors * SECTOR > length) return undefined;
  const bytes = circular(log, at, length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  if (view.getUint32(4, true) !== crc32c(bytes, 4)) return undefined;
  const writes: LogWrite[] = [];
  let dataSector = descriptorSectors;
  for (let i = 0; i < descriptors; i++) {
    const d = 64 + i * 32;
    const signature = view.getUint32(d, true);
    const fileOffset = view.getBigUint64(d + 16, true);
    if (view.getBigUint64(d + 24, true) !== sequence || fileOffset % BigInt(SECTOR) !== 0n) return undefined;
    if (signature === ZERO_SIGNATURE) {
      const zeroLength = view.getBigUint64(d + 8, true);
      if (zeroLength % BigInt(SECTOR) !== 0n || fileOffset + zeroLength > BigInt(fileSize)) return undefined;
      writes.push({ fileOffset: Number(fileOffset), zeroLength: Number(zeroLength) });
    } else if (signature === DESC_SIGNATURE) {
      if ((dataSector + 1) * SECTOR > length || fileOffset > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
      const sector = dataSector++ * SECTOR;
      const high = view.getUint32(sector + 4, true);
      const low = view.getUint32(sector + 4092, true);
      if (view.getUint32(sector, true) !== DATA_SIGNATURE || ((BigInt(high) << 32n) | BigInt(low)) !== sequence) return undefined;
      const data = new Uint8Array(SECTOR);
      data.set(bytes.subarray(d + 8, d + 16), 0); // leading bytes, kept in the descriptor
      data.set(bytes.subarray(sector + 8, sector + 4092), 8);
      data.set(bytes.subarray(d + 4, d + 8), 4092); // trailing bytes
      writes.push({ fileOffset: Number(fileOffset), data });
    } else return undefined;
  }
  if (dataSector * SECTOR !== length) return undefined;
  return {
    at,
    length,
    tail,
    sequence,
    flushedFileOffset: Number(head.getBigUint64(48, true)),
    lastFileOffset: Number(head.getBigUint64(56, true)),
    writes,
  };
}

/**
 * Replay the active sequence onto the file: its writes in order, then the file grown to the
 * last entry's recorded size. Writes into the header section or the log itself are refused:
 * a log only updates the BAT, metadata and data.
 */
export async function replay(file: BlockNode, sequence: { entries: Entry[]; lastFileOffset: number }, log: { offset: number; length: number }): Promise<void> {
  const name = file.filename;
  // A log records metadata updates inside the file; it may grow the file to the size it had
  // when the entry was written (LastFileOffset), by at most MAX_GROWTH.
  const end = Math.max(file.size, Math.min(sequence.lastFileOffset, file.size + MAX_GROWTH));
  for (const entry of sequence.entries) {
    for (const write of entry.writes) {
      const length = write.data?.length ?? write.zeroLength!;
      if (write.fileOffset < HEADER_SECTION_END || (write.fileOffset < log.offset + log.length && log.offset < write.fileOffset + length)) {
        throw corrupt(name, `The log writes ${length} bytes at offset ${write.fileOffset}, into the header section or the log`);
      }
      if (write.fileOffset + length > end) throw corrupt(name, `The log writes ${length} bytes at offset ${write.fileOffset}, past the end of the file (${file.size} bytes)`);
      if (write.data) await file.write(write.fileOffset, write.data);
      else for (let done = 0; done < length; done += MiB) await file.write(write.fileOffset + done, new Uint8Array(Math.min(MiB, length - done)));
    }
  }
  if (end > file.size && file.resize) await file.resize(end, { shrink: false });
  await file.flush();
}
