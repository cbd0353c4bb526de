import type { BlockNode, SnapshotInfo } from '@tessera/core';
import { corrupt } from '../errors.ts';
import type { Qcow2Header } from '../header/header.ts';
import { readHost } from '../host-read.ts';
import { SNAPSHOT_FIELD as F, SNAPSHOT_FIXED_BYTES as FIXED } from '../layout.ts';

/** QEMU's bounds: 64 MiB of snapshot table, 1 KiB of extra data per entry. */
export const MAX_SNAPSHOT_TABLE_BYTES = 64 * 2 ** 20;
const MAX_EXTRA_DATA = 1024;

export interface SnapshotEntry extends SnapshotInfo {
  readonly l1TableOffset: number;
  readonly l1Size: number;
}

/** An entry as stored, for rewriting the table: its extra data kept byte for byte. */
export interface SnapshotRecord extends SnapshotEntry {
  /** The guest size when the snapshot was taken (extra data bytes 8–15), when recorded. */
  readonly diskSize?: number;
  readonly extraData: Uint8Array;
}

/** The table's entries and the bytes they occupy on disk (to free them when the table moves). */
export interface SnapshotTable {
  readonly records: SnapshotRecord[];
  readonly bytes: number;
}

/** The listing form of a record (what `image.snapshots` holds). */
export function snapshotEntry({ diskSize, extraData, ...entry }: SnapshotRecord): SnapshotEntry {
  return entry;
}

/**
 * The internal snapshot table: `nbSnapshots` variable-length entries (fixed part, extra data,
 * id and name, padded to 8 bytes). Every length is checked against the table's bounds.
 */
export async function readSnapshotTable(file: BlockNode, header: Qcow2Header): Promise<SnapshotEntry[]> {
  return (await readSnapshotRecords(file, header)).records.map(snapshotEntry);
}

export async function readSnapshotRecords(file: BlockNode, header: Qcow2Header): Promise<SnapshotTable> {
  if (header.nbSnapshots === 0) return { records: [], bytes: 0 };
  const bad = (what: string) => corrupt(file.filename, `snapshot table: ${what}`);
  const start = header.snapshotsOffset;
  const available = Math.min(MAX_SNAPSHOT_TABLE_BYTES, Math.max(0, file.size - start));
  // Read in growing pieces: the table's length is only known by walking it.
  let table = new Uint8Array(Math.min(available, 64 * 1024));
  await readHost(file, start, table);
  const ensure = async (end: number) => {
    if (end > available) throw bad('entries run past the end of the file (or 64 MiB)');
    if (end <= table.length) return;
    const bigger = new Uint8Array(Math.min(available, Math.max(end, table.length * 2)));
    await readHost(file, start, bigger);
    table = bigger;
  };
  const entries: SnapshotRecord[] = [];
  let at = 0;
  for (let i = 0; i < header.nbSnapshots; i++) {
    await ensure(at + FIXED);
    let view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const l1TableOffset = Number(view.getBigUint64(at + F.l1TableOffset));
    const l1Size = view.getUint32(at + F.l1Size);
    const idSize = view.getUint16(at + F.idSize);
    const nameSize = view.getUint16(at + F.nameSize);
    const dateSec = view.getUint32(at + F.dateSec);
    const dateNsec = view.getUint32(at + F.dateNsec);
    const vmClockNsec = Number(view.getBigUint64(at + F.vmClockNsec));
    let vmStateSize = view.getUint32(at + F.vmStateSize);
    const extraSize = view.getUint32(at + F.extraDataSize);
    if (extraSize > MAX_EXTRA_DATA) throw bad(`entry ${i + 1} has ${extraSize} bytes of extra data`);
    const end = at + FIXED + extraSize + idSize + nameSize;
    await ensure(end);
    view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const extra = at + FIXED;
    let icount: number | undefined;
    let diskSize: number | undefined;
    if (extraSize >= 8) vmStateSize = Number(view.getBigUint64(extra));
    if (extraSize >= 16) diskSize = Number(view.getBigUint64(extra + 8));
    if (extraSize >= 24) {
      const raw = view.getBigInt64(extra + 16);
      icount = raw === -1n ? undefined : Number(raw);
    }
    const text = (from: number, length: number) => new TextDecoder().decode(table.subarray(from, from + length));
    const id = text(extra + extraSize, idSize);
    const name = text(extra + extraSize + idSize, nameSize);
    const extraData = table.slice(extra, extra + extraSize);
    entries.push({
      id, name, vmStateSize, dateSec, dateNsec, vmClockNsec, ...(icount !== undefined ? { icount } : {}), l1TableOffset, l1Size,
      ...(diskSize !== undefined ? { diskSize } : {}), extraData,
    });
    at = Math.ceil(end / 8) * 8;
  }
  return { records: entries, bytes: at };
}
