/**
 * qemu's `json:{…}` pseudo-filename, for storage a URL does not name the way qemu shows it (its
 * iscsi driver has no filename of its own, so qemu prints the node's open options). The keys come
 * in the order qemu's QDict iterates them: by bucket of its tdb hash (512 buckets), and within a
 * bucket the last inserted first; values are strings, written as qemu's JSON writer does
 * (`{"a": "b", "c": "d"}`).
 */
export function qemuJsonName(entries: readonly (readonly [string, string])[]): string {
  const ordered = entries.map(([key, value], index) => ({ key, value, index, bucket: qdictBucket(key) }));
  ordered.sort((a, b) => a.bucket - b.bucket || b.index - a.index);
  return `json:{${ordered.map(({ key, value }) => `${JSON.stringify(key)}: ${JSON.stringify(value)}`).join(', ')}}`;
}

/** qemu's qdict.c: tdb_hash(key) % QDICT_BUCKET_MAX (512). */
function qdictBucket(key: string): number {
  const bytes = Buffer.from(key);
  let value = Math.imul(0x238f13af, bytes.length) >>> 0;
  for (let i = 0; i < bytes.length; i++) value = (value + ((bytes[i]! << ((i * 5) % 24)) >>> 0)) >>> 0;
  return ((Math.imul(1103515243, value) + 12345) >>> 0) % 512;
}
