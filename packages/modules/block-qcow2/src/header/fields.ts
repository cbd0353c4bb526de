// Header fields rewritten in place, each group in one write inside one sector so that it lands
// whole (offsets from layout.ts): the size and L1 table (24–47), the refcount table (48–59), the
// snapshot table (60–71), the incompatible feature bits (72–79). Encoders only; the callers write
// them through the overlap guard (or, for a new image's, straight to the file).
import { HEADER_FIELD } from '../layout.ts';
import type { OverlapGuard } from '../overlap/guard.ts';
import { HEADER } from '../overlap/structures.ts';

/** Bytes of the header from `offset` on, to write there. */
export interface HeaderFields {
  readonly offset: number;
  readonly bytes: Uint8Array;
}

function fields(offset: number, length: number, fill: (view: DataView) => void): HeaderFields {
  const bytes = new Uint8Array(length);
  fill(new DataView(bytes.buffer));
  return { offset, bytes };
}

/** The virtual size alone (bytes 24–31). */
export function sizeField(size: number): HeaderFields {
  return fields(HEADER_FIELD.size, 8, (view) => view.setBigUint64(0, BigInt(size)));
}

/** Size, crypt method, L1 size and offset (bytes 24–47): a new L1 table and size switched at once. */
export function l1Fields(h: { readonly size: number; readonly cryptMethod: number; readonly l1Size: number; readonly l1TableOffset: number }): HeaderFields {
  const at = (field: number) => field - HEADER_FIELD.size;
  return fields(HEADER_FIELD.size, 24, (view) => {
    view.setBigUint64(at(HEADER_FIELD.size), BigInt(h.size));
    view.setUint32(at(HEADER_FIELD.cryptMethod), h.cryptMethod);
    view.setUint32(at(HEADER_FIELD.l1Size), h.l1Size);
    view.setBigUint64(at(HEADER_FIELD.l1TableOffset), BigInt(h.l1TableOffset));
  });
}

/** The refcount table's offset and size in clusters (bytes 48–59). */
export function refcountTableFields(offset: number, clusters: number): HeaderFields {
  return fields(HEADER_FIELD.refcountTableOffset, 12, (view) => {
    view.setBigUint64(0, BigInt(offset));
    view.setUint32(HEADER_FIELD.refcountTableClusters - HEADER_FIELD.refcountTableOffset, clusters);
  });
}

/** nb_snapshots and snapshots_offset (bytes 60–71). */
export function snapshotTableFields(count: number, offset: number): HeaderFields {
  return fields(HEADER_FIELD.nbSnapshots, 12, (view) => {
    view.setUint32(0, count);
    view.setBigUint64(HEADER_FIELD.snapshotsOffset - HEADER_FIELD.nbSnapshots, BigInt(offset));
  });
}

/** The incompatible feature bits (bytes 72–79, v3). */
export function incompatibleField(bits: bigint): HeaderFields {
  return fields(HEADER_FIELD.incompatibleFeatures, 8, (view) => view.setBigUint64(0, bits));
}

/** Header fields written through the overlap guard, as the header's own write (not synced). */
export function writeHeaderFields(guard: Pick<OverlapGuard, 'write'>, { offset, bytes }: HeaderFields): Promise<void> {
  return guard.write(offset, bytes, HEADER);
}
