// Writing a new snapshot table: entries serialized into new clusters (synced), then the header's
// nb_snapshots and snapshots_offset switched in one write (synced), then the old table freed. A
// crash leaves either table in place and the other one leaked at most.
import type { Qcow2State } from '../state.ts';
import { snapshotTableFields, writeHeaderFields } from '../header/fields.ts';
import { SNAPSHOT_FIELD as F, SNAPSHOT_FIXED_BYTES as FIXED } from '../layout.ts';
import { MAX_SNAPSHOT_TABLE_BYTES, snapshotEntry, type SnapshotRecord, type SnapshotTable } from './table.ts';

/** The table's bytes: each entry's fixed part, extra data, id and name, padded to 8 bytes. */
export function serializeSnapshotTable(records: readonly SnapshotRecord[]): Uint8Array {
  const encoder = new TextEncoder();
  const parts = records.map((record) => {
    const id = encoder.encode(record.id);
    const name = encoder.encode(record.name);
    if (id.length > 0xffff || name.length > 0xffff) throw new Error('Snapshot name too long');
    const length = Math.ceil((FIXED + record.extraData.length + id.length + name.length) / 8) * 8;
    const bytes = new Uint8Array(length);
    const view = new DataView(bytes.buffer);
    view.setBigUint64(F.l1TableOffset, BigInt(record.l1TableOffset));
    view.setUint32(F.l1Size, record.l1Size);
    view.setUint16(F.idSize, id.length);
    view.setUint16(F.nameSize, name.length);
    view.setUint32(F.dateSec, record.dateSec);
    view.setUint32(F.dateNsec, record.dateNsec);
    view.setBigUint64(F.vmClockNsec, BigInt(record.vmClockNsec));
    // The 32-bit field saturates; the extra data (when present) holds the full size.
    view.setUint32(F.vmStateSize, Math.min(record.vmStateSize, 0xffffffff));
    view.setUint32(F.extraDataSize, record.extraData.length);
    bytes.set(record.extraData, FIXED);
    bytes.set(id, FIXED + record.extraData.length);
    bytes.set(name, FIXED + record.extraData.length + id.length);
    return bytes;
  });
  const table = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    table.set(part, at);
    at += part.length;
  }
  return table;
}

/** Replace the image's snapshot table (`old`, as read) with `records`. */
export async function installSnapshotTable(image: Qcow2State, old: SnapshotTable, records: readonly SnapshotRecord[]): Promise<void> {
  const refcounts = image.refcounts!;
  const cs = image.header.clusterSize;
  const bytes = serializeSnapshotTable(records);
  if (bytes.length > MAX_SNAPSHOT_TABLE_BYTES) throw new Error('-27 (File too large)'); // what QEMU would refuse to read
  let offset = 0;
  if (bytes.length > 0) {
    offset = await refcounts.allocateRun(Math.ceil(bytes.length / cs));
    await image.overlap.write(offset, bytes); // a new table: it may land on no metadata
    await image.child.flush();
  }
  await writeHeaderFields(image.overlap, snapshotTableFields(records.length, offset)); // one write, one sector
  await image.child.flush();
  const oldOffset = image.header.snapshotsOffset;
  image.header = { ...image.header, nbSnapshots: records.length, snapshotsOffset: offset };
  image.snapshots = records.map(snapshotEntry);
  if (old.bytes > 0) {
    const first = Math.floor(oldOffset / cs);
    await refcounts.release(first, Math.floor((oldOffset + old.bytes - 1) / cs) - first + 1);
    await image.child.flush();
  }
}
