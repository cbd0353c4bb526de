// Rewriting the first cluster for a new bitmap directory: the bitmaps header extension replaced,
// added (after the feature name table, where QEMU puts it) or dropped, the records after it and
// the backing file name moved to follow, and the autoclear bit that says the bitmaps are valid.
import { AUTOCLEAR_BITMAPS } from '../header/features.ts';
import { HEADER_EXTENSION, HEADER_FIELD as F } from '../layout.ts';

export interface DirectoryPlace {
  readonly count: number;
  readonly offset: number;
  readonly size: number;
}

/** The first cluster `head` (of a v3 image whose header is `headerLength` long) pointing at `place`, or with no bitmaps. */
export function withBitmapsExtension(head: Uint8Array, headerLength: number, place: DirectoryPlace | undefined): Uint8Array {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const records: { type: number; data: Uint8Array }[] = [];
  for (let at = headerLength; at + 8 <= head.length; ) {
    const type = view.getUint32(at);
    const length = view.getUint32(at + 4);
    if (type === HEADER_EXTENSION.end) break;
    records.push({ type, data: head.slice(at + 8, at + 8 + length) });
    at += 8 + Math.ceil(length / 8) * 8;
  }
  const backingOffset = Number(view.getBigUint64(F.backingFileOffset));
  const backingName = backingOffset ? head.slice(backingOffset, backingOffset + view.getUint32(F.backingFileSize)) : undefined;

  const index = records.findIndex((r) => r.type === HEADER_EXTENSION.bitmaps);
  if (index >= 0) records.splice(index, 1);
  if (place) {
    const data = new Uint8Array(24);
    const d = new DataView(data.buffer);
    d.setUint32(0, place.count);
    d.setBigUint64(8, BigInt(place.size));
    d.setBigUint64(16, BigInt(place.offset));
    const after = records.findIndex((r) => r.type === HEADER_EXTENSION.featureNames);
    records.splice(index >= 0 ? index : after >= 0 ? after + 1 : records.length, 0, { type: HEADER_EXTENSION.bitmaps, data });
  }

  const out = new Uint8Array(head.length);
  out.set(head.subarray(0, headerLength));
  const o = new DataView(out.buffer);
  let at = headerLength;
  const need = (bytes: number) => {
    if (at + bytes > out.length) throw new Error('the header extensions do not fit in the first cluster');
  };
  for (const { type, data } of records) {
    need(8 + Math.ceil(data.length / 8) * 8 + 8);
    o.setUint32(at, type);
    o.setUint32(at + 4, data.length);
    out.set(data, at + 8);
    at += 8 + Math.ceil(data.length / 8) * 8;
  }
  need(8);
  at += 8; // the end marker: zeroes
  if (backingName) {
    need(backingName.length);
    out.set(backingName, at);
    o.setBigUint64(F.backingFileOffset, BigInt(at));
  }
  const autoclear = o.getBigUint64(F.autoclearFeatures);
  o.setBigUint64(F.autoclearFeatures, place ? autoclear | AUTOCLEAR_BITMAPS : autoclear & ~AUTOCLEAR_BITMAPS);
  return out;
}
