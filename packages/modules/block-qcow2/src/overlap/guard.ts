// QEMU's metadata overlap check (overlap-check=cached, its default): a write to the image file
// that would land on the header, the active L1 table or an active L2 table, the refcount table or a
// refcount block, the snapshot table, a snapshot's L1 table or the bitmap directory is refused with
// EIO, the image is marked corrupt (once; QEMU's message on stderr) and takes no more writes. It
// guards against crafted or damaged images whose entries or refcounts point into metadata.
//
// This is the one place that decides. Every write to the image file goes through it: guest data
// and new structures declare nothing (they may land on no metadata at all), a write that rewrites
// a structure in place declares it (its kind and range, MetadataStructure) and may touch that one
// only. Header fields are the header's (QEMU never checks them either: whatever else claims the
// first cluster is the crafted party).
//
// The clusters holding metadata are indexed when writes start and after every maintenance
// operation (invalidate), and kept current as the writer adds L2 tables and the refcounts add
// blocks or a table: a check is a few map lookups per 32 clusters, never a scan of the tables.
// An index may keep clusters that stopped being metadata (a freed L2 table); a hit is therefore
// confirmed against a fresh index before anything is refused.
import type { BlockNode } from '@tessera/core';
import type { Qcow2Header } from '../header/header.ts';
import { l2TableOffset, refcountBlockOffset } from '../layout.ts';
import type { SnapshotEntry } from '../snapshot/table.ts';
import { readSnapshotRecords } from '../snapshot/table.ts';
import { bitmapDirectory } from '../header/bitmap-directory.ts';
import { MetadataClusters, type OverlapKind } from './metadata-clusters.ts';

export type { OverlapKind } from './metadata-clusters.ts';

/** QEMU's largest metadata structures (the snapshot table, the bitmap directory): 64 MiB. */
const MAX_STRUCTURE_BYTES = 64 * 2 ** 20;

/** The structure a metadata write is meant to overwrite: its overlap class and host byte range. */
export interface MetadataStructure {
  readonly kind: OverlapKind;
  readonly offset: number;
  readonly length: number;
}

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
    message = 'Input/output error',
  ) {
    super(message);
    this.name = 'MetadataOverlapError';
  }
}

/**
 * Run a maintenance step; a write it had refused fails with QEMU's message for that step (e.g.
 * "Failed to grow the L1 table: Input/output error"; `message` receives QEMU's strerror text).
 */
export async function inStep<T>(message: (reason: string) => string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof MetadataOverlapError) throw new MetadataOverlapError(error.kind, error.offset, error.length, message('Input/output error'));
    throw error;
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
   * at that offset (the writer's form of checkWrite).
   */
  check(offset: number, length: number, ownTable?: number, ownKind: OverlapKind = 'active L2 table'): Promise<void> {
    return this.checkWrite(offset, length, ownTable === undefined ? undefined : { kind: ownKind, offset: ownTable, length: 1 });
  }

  /** Write `bytes` at `offset` of the image file once checkWrite allows it. */
  async write(offset: number, bytes: Uint8Array, own?: MetadataStructure): Promise<void> {
    await this.checkWrite(offset, bytes.length, own);
    await this.image.child.write(offset, bytes);
  }

  /**
   * Refuse a write of `length` bytes at host `offset` of the image file that overlaps metadata
   * other than `own`, the structure it rewrites (none: a new structure or data, which may overlap
   * no metadata at all).
   */
  async checkWrite(offset: number, length: number, own?: MetadataStructure): Promise<void> {
    if (this.corruptionSignalled) throw new MetadataOverlapError(undefined, offset, length);
    if (length <= 0) return;
    if (own?.kind === 'qcow2_header' && offset + length <= this.image.header.clusterSize) return;
    const index = this.index ?? (await this.indexed());
    const clusters = this.ownClusters(own);
    if (index.find(...this.clusters(offset, length), clusters) === undefined) return;
    // Confirmed on a fresh index: the hit may be a cluster that was metadata once.
    this.invalidate();
    const kind = (await this.indexed()).find(...this.clusters(offset, length), clusters);
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

  /** Clusters `[first, first + count)` of the structure a write declares. */
  private ownClusters(own: MetadataStructure | undefined): { first: number; count: number; kind: OverlapKind } | undefined {
    if (!own) return undefined;
    const [first, count] = this.clusters(own.offset, Math.max(1, own.length));
    return { first, count, kind: own.kind };
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
      bytes = Math.min(bytes, MAX_STRUCTURE_BYTES); // crafted sizes: no structure QEMU reads is larger
      const first = Math.floor(offset / cs);
      index.add(first, Math.floor((offset + bytes - 1) / cs) - first + 1, kind);
    };
    add(0, cs, 'qcow2_header');
    add(h.l1TableOffset, h.l1Size * 8, 'active L1 table');
    const structure = refcounts?.structure() ?? (await this.storedRefcountStructure());
    add(structure.tableOffset, structure.tableClusters * cs, 'refcount table');
    if (h.nbSnapshots > 0) add(h.snapshotsOffset, (await readSnapshotRecords(child, h)).bytes, 'snapshot table');
    const bitmaps = await bitmapDirectory(child, h);
    if (bitmaps) add(bitmaps.offset, bitmaps.size, 'bitmap directory');
    for (const snapshot of snapshots) add(snapshot.l1TableOffset, snapshot.l1Size * 8, 'inactive L1 table');
    for (const entry of map.l1) {
      const offset = l2TableOffset(entry);
      if (offset) add(offset, cs, 'active L2 table');
    }
    for (const offset of structure.blocks) if (offset) add(offset, cs, 'refcount block');
    return index;
  }

  /**
   * Without loaded refcounts (a repair of an image whose refcount structure is broken): the table
   * and the blocks it names as stored, entries that are not cluster offsets inside the file left out.
   */
  private async storedRefcountStructure(): Promise<{ tableOffset: number; tableClusters: number; blocks: number[] }> {
    const { header: h, child } = this.image;
    const cs = h.clusterSize;
    const bytes = new Uint8Array(Math.max(0, Math.min(h.refcountTableClusters * cs, child.size - h.refcountTableOffset)));
    if (bytes.length) await child.read(h.refcountTableOffset, bytes);
    const view = new DataView(bytes.buffer);
    const blocks: number[] = [];
    for (let at = 0; at + 8 <= bytes.length; at += 8) {
      const offset = refcountBlockOffset(view.getUint32(at), view.getUint32(at + 4));
      if (offset && offset % cs === 0 && offset < child.size) blocks.push(offset);
    }
    return { tableOffset: h.refcountTableOffset, tableClusters: h.refcountTableClusters, blocks };
  }
}
