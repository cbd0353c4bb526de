// QEMU's metadata overlap check (overlap-check=cached, its default): a write to the image file
// that would land on the header, the active L1 table or an active L2 table, the refcount table or a
// refcount block, the snapshot table or a snapshot's L1 table is refused with EIO, the image is
// marked corrupt (once; QEMU's message on stderr) and takes no more writes. It guards against
// crafted or damaged images whose entries or refcounts point into metadata.
//
// The clusters holding metadata are indexed when writes start and after every maintenance
// operation (invalidate), and kept current as the writer adds L2 tables and the refcounts add
// blocks or a table: a check is a few map lookups per 32 clusters, never a scan of the tables.
// An index may keep clusters that stopped being metadata (a freed L2 table); a hit is therefore
// confirmed against a fresh index before anything is refused.
import type { BlockNode } from '@tessera/core';
import type { Qcow2Header } from '../header/header.ts';
import { L1E_OFFSET_MASK } from '../layout.ts';
import type { SnapshotEntry } from '../snapshot/table.ts';
import { readSnapshotRecords } from '../snapshot/table.ts';
import { MetadataClusters, type OverlapKind } from './metadata-clusters.ts';

/** What the guard reads from the image when it indexes the metadata. */
export interface GuardedImage {
  readonly child: BlockNode;
  readonly header: Qcow2Header;
  readonly snapshots: readonly SnapshotEntry[];
  readonly map: { readonly l1: BigUint64Array };
  /** The refcount table and blocks as the writer knows them (the header may lag a grown table). */
  readonly refcounts: { structure(): { tableOffset: number; tableClusters: number; blocks: readonly number[] } } | undefined;
  /** Set the corrupt bit in the header (v3), synced. */
  markCorrupt(): Promise<void>;
  /** QEMU's fprintf to stderr. */
  report(message: string): void;
}

/** A write refused because it would overwrite metadata (QEMU's -EIO). */
export class MetadataOverlapError extends Error {
  readonly code = 'EIO';
  constructor(
    readonly kind: OverlapKind | undefined,
    readonly offset: number,
    readonly length: number,
  ) {
    super('Input/output error');
    this.name = 'MetadataOverlapError';
  }
}

export class OverlapGuard {
  private index: MetadataClusters | undefined;
  private indexing: Promise<MetadataClusters> | undefined;
  private corruptionSignalled = false;

  /** Corruption was signalled: the image takes no more writes (QEMU makes the node unusable). */
  get signalled(): boolean {
    return this.corruptionSignalled;
  }

  constructor(private readonly image: GuardedImage) {}

  /** The metadata may have moved (a maintenance operation ran): index it again before the next check. */
  invalidate(): void {
    this.index = undefined;
    this.indexing = undefined;
  }

  /** A new active L2 table (the writer made or copied one). */
  addL2Table(offset: number): void {
    this.index?.add(Math.floor(offset / this.image.header.clusterSize), 1, 'active L2 table');
  }

  /** A new refcount block or refcount table (the refcounts made it). */
  addRefcountStructure(offset: number, clusters: number, kind: 'refcount block' | 'refcount table'): void {
    this.index?.add(Math.floor(offset / this.image.header.clusterSize), clusters, kind);
  }

  /**
   * Refuse a write of `length` bytes at host `offset` of the image file that overlaps metadata.
   * `ownTable`: the write is the entries of the L2 table (or, with `ownKind`, the refcount block)
   * at that offset.
   */
  async check(offset: number, length: number, ownTable?: number, ownKind: OverlapKind = 'active L2 table'): Promise<void> {
    if (this.corruptionSignalled) throw new MetadataOverlapError(undefined, offset, length);
    if (length <= 0) return;
    const own = ownTable === undefined ? undefined : { cluster: Math.floor(ownTable / this.image.header.clusterSize), kind: ownKind };
    const index = this.index ?? (await this.indexed());
    if (index.find(...this.clusters(offset, length), own) === undefined) return;
    // Confirmed on a fresh index: the hit may be a cluster that was metadata once.
    this.invalidate();
    const kind = (await this.indexed()).find(...this.clusters(offset, length), own);
    if (kind === undefined) return;
    await this.signal(kind, offset, length);
  }

  /** The same for a run of host clusters given by their offsets (a fresh write's), whole clusters each. */
  async checkClusters(offsets: readonly number[]): Promise<void> {
    const cs = this.image.header.clusterSize;
    for (let i = 0; i < offsets.length; ) {
      let j = i + 1;
      while (j < offsets.length && offsets[j] === offsets[j - 1]! + cs) j++;
      await this.check(offsets[i]!, (j - i) * cs);
      i = j;
    }
  }

  private clusters(offset: number, length: number): [number, number] {
    const cs = this.image.header.clusterSize;
    const first = Math.floor(offset / cs);
    return [first, Math.floor((offset + length - 1) / cs) - first + 1];
  }

  private async signal(kind: OverlapKind, offset: number, length: number): Promise<never> {
    this.corruptionSignalled = true;
    const what = `Preventing invalid write on metadata (overlaps with ${kind})`;
    this.image.report(`qcow2: Marking image as corrupt: ${what}; further corruption events will be suppressed\n`);
    await this.image.markCorrupt();
    throw new MetadataOverlapError(kind, offset, length);
  }

  private async indexed(): Promise<MetadataClusters> {
    this.indexing ??= this.build();
    const index = await this.indexing;
    this.index = index;
    return index;
  }

  private async build(): Promise<MetadataClusters> {
    const { header: h, snapshots, map, refcounts, child } = this.image;
    const cs = h.clusterSize;
    const index = new MetadataClusters();
    /** The clusters `[offset, offset + bytes)` touches. */
    const add = (offset: number, bytes: number, kind: OverlapKind) => {
      if (bytes <= 0) return;
      const first = Math.floor(offset / cs);
      index.add(first, Math.floor((offset + bytes - 1) / cs) - first + 1, kind);
    };
    add(0, cs, 'qcow2_header');
    add(h.l1TableOffset, h.l1Size * 8, 'active L1 table');
    const structure = refcounts?.structure() ?? { tableOffset: h.refcountTableOffset, tableClusters: h.refcountTableClusters, blocks: [] };
    add(structure.tableOffset, structure.tableClusters * cs, 'refcount table');
    if (h.nbSnapshots > 0) add(h.snapshotsOffset, (await readSnapshotRecords(child, h)).bytes, 'snapshot table');
    for (const snapshot of snapshots) add(snapshot.l1TableOffset, snapshot.l1Size * 8, 'inactive L1 table');
    for (const entry of map.l1) {
      const offset = Number(entry & L1E_OFFSET_MASK);
      if (offset) add(offset, cs, 'active L2 table');
    }
    for (const offset of structure.blocks) if (offset) add(offset, cs, 'refcount block');
    return index;
  }
}
