// Which host clusters hold metadata, for the overlap check: a sparse bitmap (one 32-bit word per
// 32 clusters, in a map), so a write's run of clusters is checked a word at a time, and the kind of
// each marked cluster for the message. Lookups never scan the tables.

/**
 * QEMU's overlap classes (metadata_ol_names), in the order its check reports them. A metadata
 * write declares which of them it is; inactive L2 tables are never indexed (QEMU's default,
 * overlap-check=cached, leaves them out too), but a write to one declares that kind.
 */
export const OVERLAP_KINDS = [
  'qcow2_header',
  'active L1 table',
  'refcount table',
  'snapshot table',
  'inactive L1 table',
  'active L2 table',
  'refcount block',
  'inactive L2 table',
  'bitmap directory',
] as const;

export type OverlapKind = (typeof OVERLAP_KINDS)[number];

const BIT = new Map<OverlapKind, number>(OVERLAP_KINDS.map((kind, i) => [kind, 1 << i]));
const L2_BITS = BIT.get('active L2 table')! | BIT.get('inactive L2 table')!;

export class MetadataClusters {
  private readonly words = new Map<number, number>();
  /** Per marked cluster, the kinds of metadata it holds (a bit each, in OVERLAP_KINDS' order). */
  private readonly kinds = new Map<number, number>();

  /** Mark `count` clusters from `first` as metadata of `kind`. */
  add(first: number, count: number, kind: OverlapKind): void {
    for (let cluster = first; cluster < first + count; cluster++) {
      const word = Math.floor(cluster / 32);
      this.words.set(word, ((this.words.get(word) ?? 0) | (1 << (cluster - word * 32))) >>> 0);
      this.kinds.set(cluster, (this.kinds.get(cluster) ?? 0) | BIT.get(kind)!);
    }
  }

  /**
   * The kind of metadata in clusters `[first, first + count)` that QEMU would report (its order),
   * or undefined. `own`: the structure the write is meant to overwrite (its clusters and kind),
   * which the write may touch; any other metadata in those clusters still counts.
   */
  find(first: number, count: number, own?: { first: number; count: number; kind: OverlapKind }): OverlapKind | undefined {
    const ownFirst = own?.first ?? -1;
    const ownEnd = own ? own.first + own.count : -1;
    // An L2 table is an L2 table whichever L1 table reaches it (QEMU's repairs ignore both classes).
    const ownBit = !own ? 0 : own.kind === 'active L2 table' || own.kind === 'inactive L2 table' ? L2_BITS : BIT.get(own.kind)!;
    let found = 0;
    const end = first + count;
    for (let cluster = first; cluster < end; ) {
      const word = Math.floor(cluster / 32);
      const wordEnd = Math.min(end, (word + 1) * 32);
      const bits = this.words.get(word);
      if (bits !== undefined) {
        for (let c = cluster; c < wordEnd; c++) {
          if (((bits >>> (c - word * 32)) & 1) === 0) continue;
          found |= c >= ownFirst && c < ownEnd ? this.kinds.get(c)! & ~ownBit : this.kinds.get(c)!;
        }
      }
      cluster = wordEnd;
    }
    if (found === 0) return undefined;
    return OVERLAP_KINDS[31 - Math.clz32(found & -found)]; // the lowest bit: QEMU's first check
  }
}
