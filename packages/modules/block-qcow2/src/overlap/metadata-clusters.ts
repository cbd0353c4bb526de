// Which host clusters hold metadata, for the overlap check: a sparse bitmap (one 32-bit word per
// 32 clusters, in a map), so a write's run of clusters is checked a word at a time, and the kind of
// each marked cluster for the message. Lookups never scan the tables.

/** QEMU's names for the kinds of metadata (metadata_ol_names), in the order its check reports them. */
export const OVERLAP_KINDS = [
  'qcow2_header',
  'active L1 table',
  'refcount table',
  'snapshot table',
  'inactive L1 table',
  'active L2 table',
  'refcount block',
] as const;

export type OverlapKind = (typeof OVERLAP_KINDS)[number];

const BIT = new Map<OverlapKind, number>(OVERLAP_KINDS.map((kind, i) => [kind, 1 << i]));

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
   * or undefined. `own`: a table's own cluster and kind (an L2 table or refcount block whose
   * entries are being written), which the write may touch.
   */
  find(first: number, count: number, own?: { cluster: number; kind: OverlapKind }): OverlapKind | undefined {
    const ownCluster = own?.cluster ?? -1;
    const ownBit = own ? BIT.get(own.kind)! : 0;
    let found = 0;
    const end = first + count;
    for (let cluster = first; cluster < end; ) {
      const word = Math.floor(cluster / 32);
      const wordEnd = Math.min(end, (word + 1) * 32);
      const bits = this.words.get(word);
      if (bits !== undefined) {
        for (let c = cluster; c < wordEnd; c++) {
          if (((bits >>> (c - word * 32)) & 1) === 0) continue;
          found |= c === ownCluster ? this.kinds.get(c)! & ~ownBit : this.kinds.get(c)!;
        }
      }
      cluster = wordEnd;
    }
    if (found === 0) return undefined;
    return OVERLAP_KINDS[31 - Math.clz32(found & -found)]; // the lowest bit: QEMU's first check
  }
}
