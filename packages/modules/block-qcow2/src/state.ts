// The open image's state, as the operations outside image.ts see it (QEMU's BDRVQcow2State): the
// header, the files, the active L1 table's map and L2 cache, the refcounts and writer when writable,
// the lock, the overlap guard. image.ts implements it; snapshot/, check/, resize, amend, … take it,
// so none of them imports image.ts (which imports them). Type imports only, of files that import
// neither this nor image.ts.
import type { BlockNode } from '@tessera/core';
import type { ClusterMap } from './cluster/mapping.ts';
import type { ClusterWriter } from './cluster/writer.ts';
import type { Qcow2Header } from './header/header.ts';
import type { ReadWriteLock } from './lock.ts';
import type { OverlapGuard } from './overlap/guard.ts';
import type { Refcounts } from './refcount/refcounts.ts';
import type { SnapshotEntry } from './snapshot/table.ts';

export interface Qcow2State {
  /** The image file. */
  readonly child: BlockNode;
  readonly filename: string;
  /** Replaced (not mutated) when an operation changes the header. */
  header: Qcow2Header;
  /** The active L1 table and the L2 table cache; replaced with the header by replaceTables. */
  readonly map: ClusterMap;
  readonly backing: BlockNode | undefined;
  readonly dataFile: BlockNode | undefined;
  /** The internal snapshot table as read at open (the snapshot operations keep it current). */
  snapshots: readonly SnapshotEntry[];
  /** Maintenance operations run under its write side. */
  readonly lock: ReadWriteLock;
  /** Writes that would land on metadata are refused (overlap/guard.ts). */
  readonly overlap: OverlapGuard;
  /** Opened for writing: the refcounts and the guest-write path. */
  readonly refcounts: Refcounts | undefined;
  readonly writer: ClusterWriter | undefined;
  readonly readOnly: boolean;
  /** Opened for a repair whose refcounts could not be loaded (a broken refcount structure): why. */
  writesRefused: Error | undefined;
  /** (Re)load the refcounts and the write path from the current header. */
  enableWrites(): Promise<void>;
  /** Switch to a new header and active L1 table, both on disk already (the caller holds the write lock). */
  replaceTables(header: Qcow2Header, l1: BigUint64Array): void;
  /** A new refcount table, which the header points to already. */
  adoptRefcountTable(offset: number, clusters: number): Promise<void>;
  /** A read-only image over other tables (a snapshot's), sharing this one's files. */
  readOnlyView(header: Qcow2Header, l1: BigUint64Array): BlockNode & Required<Pick<BlockNode, 'blockStatus' | 'allocatedSize' | 'describe'>>;
  /** Set the corrupt bit (v3), synced. */
  markCorrupt(): Promise<void>;
  /** A driver message on stderr (check replaces it to collect them). */
  report(message: string): void;
}
