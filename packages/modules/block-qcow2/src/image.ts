import type { AmendSettings, BlockNode, BlockStatus, ImageDescription, InternalSnapshots, PersistentBitmaps, ResizeOptions } from '@tessera/core';
import { ClusterMap } from './cluster/mapping.ts';
import { changeBitmaps } from './bitmaps/change.ts';
import { listBitmaps, mergeIntoBitmap, readBitmap } from './bitmaps/contents.ts';
import type { BitmapTracker } from './bitmaps/tracker.ts';
import { bitmapInfo } from './bitmaps/info.ts';
import type { BitmapsState } from './bitmaps/load.ts';
import { COMPRESSION_ZLIB, codecOf, compressionTypeName } from './codecs.ts';
import { decompressCluster } from './compress.ts';
import { codedError, corrupt } from './errors.ts';
import { COMPAT_LAZY_REFCOUNTS, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, AUTOCLEAR_DATA_FILE_RAW } from './header/features.ts';
import type { Qcow2Header } from './header/header.ts';
import { writeRefcountTablePlace } from './header/refcount-table-place.ts';
import { readHost } from './host-read.ts';
import type { SnapshotEntry } from './snapshot/table.ts';
import { internalSnapshots } from './snapshot/internal-snapshots.ts';
import { ReadWriteLock } from './lock.ts';
import { ClusterWriter } from './cluster/writer.ts';
import type { WriteTail } from './cluster/fresh-writes.ts';
import { CompressedWriter } from './cluster/compressed-writer.ts';
import { Refcounts } from './refcount/refcounts.ts';
import { rebuildRefcounts } from './refcount/repair.ts';
import type { CheckRepair, CheckResult } from '@tessera/core';
import { checkImage } from './check/check.ts';
import { setBackingFile } from './backing.ts';
import { makeImageEmpty } from './make-empty.ts';
import { resizeKeepingBitmaps } from './bitmaps/resize.ts';
import { amendImage } from './amend.ts';
import { amendEncrypted } from './encryption/amend.ts';
import { OverlapGuard, type GuardedImage } from './overlap/guard.ts';
import { incompatibleField } from './header/fields.ts';
import type { Qcow2State } from './state.ts';
import type { DataCipher } from './encryption/data-cipher.ts';
import { withoutHostPlace } from './encryption/status.ts';

/**
 * An open qcow2 image: guest reads through the cluster map, backing file and data file; writes
 * (when opened read-write) through the cluster writer and refcounts.
 */
export class Qcow2Image implements BlockNode, Qcow2State, GuardedImage {
  readonly driver = 'qcow2';
  /** The internal snapshot table, read at open (the snapshot operations keep it current). */
  snapshots: readonly SnapshotEntry[] = [];
  /** The persistent dirty bitmaps, read at open (bitmaps/load.ts). */
  bitmaps: BitmapsState = { bitmaps: [], directoryOffset: 0, directorySize: 0 };
  /** Opened for writing with enabled bitmaps: sets their bits, stores them at close (bitmaps/tracker.ts). */
  bitmapTracker: BitmapTracker | undefined;
  /** Encrypted guest data (crypt_method 1 or 2): set at open, before writes are enabled (encryption/). */
  encryption: DataCipher | undefined;
  readonly internalSnapshots: InternalSnapshots = afterSettling(
    internalSnapshots(this, () => this.bitmaps.bitmaps.length > 0),
    () => this.settled(),
    () => this.overlap.invalidate(),
  );
  // The parts below are shared with the maintenance operations (snapshot/, check/, …), which run
  // under the lock's write side.
  readonly lock = new ReadWriteLock();
  writer: ClusterWriter | undefined;
  refcounts: Refcounts | undefined;
  /** Opened for a repair whose refcounts could not be loaded (a broken refcount structure): why. */
  writesRefused: Error | undefined;
  /** Writes that would land on metadata are refused (overlap/guard.ts). */
  readonly overlap = new OverlapGuard(this);
  /** Lazy refcounts: the dirty bit is set before the first write and cleared at close. */
  private lazy = false;
  private markedDirty = false;
  /** Metadata ordering step of this image (a flush, or nothing with lazy refcounts). */
  private sync: () => Promise<void> = async () => {};

  constructor(
    readonly child: BlockNode,
    /** Replaced (not mutated) when an operation changes the header. */
    public header: Qcow2Header,
    /** Replaced with the header when the active L1 table changes (replaceTables). */
    public map: ClusterMap,
    readonly backing: BlockNode | undefined,
    readonly dataFile: BlockNode | undefined,
  ) {}

  get readOnly(): boolean {
    return this.writer === undefined;
  }

  /**
   * Open for writing: load the refcounts, and sync metadata steps unless refcounts are lazy. With
   * the map's deferWrites (cache=unsafe), refcount changes are deferred too, until flush or close.
   */
  async enableWrites(): Promise<void> {
    const h = this.header;
    this.lazy = (h.compatible & COMPAT_LAZY_REFCOUNTS) !== 0n;
    const sync = this.lazy ? async () => {} : () => this.child.flush();
    this.sync = sync;
    const refcounts = await Refcounts.load(this.child, {
      clusterSize: h.clusterSize,
      refcountOrder: h.refcountOrder,
      tableOffset: h.refcountTableOffset,
      tableClusters: h.refcountTableClusters,
      sync,
      moveTable: (offset, clusters) => writeRefcountTablePlace(this.child, offset, clusters),
      deferWrites: this.map.deferWrites,
      writeBackReferences: () => this.map.writeBack(),
      onNewStructure: (offset, clusters, kind) => this.overlap.addRefcountStructure(offset, clusters, kind),
      guardWrite: (offset, length, own) => this.overlap.checkWrite(offset, length, own),
    });
    if (h.incompatible & INCOMPAT_DIRTY) {
      // Not closed cleanly with lazy refcounts: rebuild them before anything else is written.
      await rebuildRefcounts(this.child, h, this.map.l1, refcounts);
      await this.setIncompatible(h.incompatible & ~INCOMPAT_DIRTY);
    }
    this.refcounts = refcounts;
    if (this.map.deferWrites) this.map.dependsOn(() => refcounts.writeBack());
    this.writer = this.newWriter(refcounts);
    this.overlap.invalidate();
  }

  private newWriter(refcounts: Refcounts): ClusterWriter {
    return new ClusterWriter(this.header, this.map, refcounts, this.child, (offset, into) => this.readClamped(offset, into), this.sync, this.backing !== undefined, this.dataFile, this.overlap, this.encryption);
  }

  /**
   * Switch to a new header and active L1 table (resize, amend, snapshot apply): the map and the
   * writer follow. The caller holds the write lock and has written both to disk.
   */
  replaceTables(header: Qcow2Header, l1: BigUint64Array): void {
    if (this.map.hasDeferredWrites) throw new Error(`${this.filename}: internal error: tables replaced before deferred metadata was written`);
    this.header = header;
    this.map = new ClusterMap(header, l1, this.child, this.map.deferWrites);
    const refcounts = this.refcounts;
    if (refcounts && this.map.deferWrites) this.map.dependsOn(() => refcounts.writeBack());
    if (refcounts) this.writer = this.newWriter(refcounts);
    this.overlap.invalidate();
  }

  /**
   * A new refcount table (check's rebuild wrote it and pointed the header to it): the refcounts
   * and the writer follow it. Writes refused over the old structure are allowed again.
   */
  async adoptRefcountTable(offset: number, clusters: number): Promise<void> {
    this.replaceTables({ ...this.header, refcountTableOffset: offset, refcountTableClusters: clusters }, this.map.l1);
    this.writesRefused = undefined;
    await this.enableWrites();
  }

  /** A read-only image over other tables (a snapshot's), sharing this one's files. Never closed itself. */
  readOnlyView(header: Qcow2Header, l1: BigUint64Array): Qcow2Image {
    const view = new Qcow2Image(this.child, header, new ClusterMap(header, l1, this.child), this.backing, this.dataFile);
    view.encryption = this.encryption;
    return view;
  }

  get filename(): string {
    return this.child.filename;
  }
  get size(): number {
    return this.header.size;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    if (offset < 0 || offset + into.length > this.size) {
      throw new Error(`${this.filename}: read of ${into.length} bytes at ${offset} is beyond the end (${this.size})`);
    }
    // Opened read-only, nothing changes the tables (no writer, no resize, amend or snapshot
    // apply): there is no lock to take, and a server's every read skips its promises.
    if (!this.writer) return this.readUnlocked(offset, into);
    await this.lock.read(async () => {
      await this.writer?.settle(offset, into.length); // writes issued before this read are seen
      await this.readUnlocked(offset, into);
    });
  }

  /** Guest bytes, zeroes past the virtual size (a write's last cluster may reach beyond it). */
  private async readClamped(offset: number, into: Uint8Array): Promise<void> {
    const inside = Math.max(0, Math.min(into.length, this.size - offset));
    if (inside > 0) await this.readUnlocked(offset, into.subarray(0, inside));
    into.fill(0, inside);
  }

  private async readUnlocked(offset: number, into: Uint8Array): Promise<void> {
    let done = 0;
    while (done < into.length) {
      let extent = await this.map.lookup(offset + done, into.length - done);
      if (extent.kind === 'data') extent = await this.contiguousData(offset + done, extent, into.length - done);
      const part = into.subarray(done, done + extent.length);
      await this.readExtent(offset + done, extent, part);
      done += extent.length;
    }
  }

  /** A data extent grown over the data right after it that follows it on the host too: one host read. */
  private async contiguousData(offset: number, extent: Awaited<ReturnType<ClusterMap['lookup']>>, maxLength: number): Promise<Awaited<ReturnType<ClusterMap['lookup']>>> {
    let length = extent.length;
    while (length < maxLength) {
      const next = await this.map.lookup(offset + length, maxLength - length);
      if (next.kind !== 'data' || next.hostPosition !== extent.hostPosition! + length) break;
      length += next.length;
    }
    return { ...extent, length };
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    const writer = this.writer;
    if (!writer) throw new Error(`${this.filename}: the image is opened read-only`);
    if (offset < 0 || offset + data.length > this.size) {
      throw new Error(`${this.filename}: write of ${data.length} bytes at ${offset} is beyond the end (${this.size})`);
    }
    if (data.length === 0) return;
    // Encryption works in whole sectors: the block layer aligns requests; this is the fallback.
    if (this.encryption && (offset % 512 !== 0 || data.length % 512 !== 0)) return this.writeSectors(offset, data);
    if (this.bitmapTracker) await this.bitmapsReady();
    this.bitmapTracker?.mark(offset, data.length);
    // A fresh write leaves the lock after allocating, so the next write allocates while its data
    // is written (fresh-writes.ts); what is left of it is awaited here, outside the lock.
    let rest: WriteTail | undefined;
    await this.modify(async () => {
      rest = await writer.start(offset, data);
    });
    await rest?.done;
  }

  /** An unaligned write to an encrypted image: the sectors around it read, patched, written whole. */
  private async writeSectors(offset: number, data: Uint8Array): Promise<void> {
    const start = Math.floor(offset / 512) * 512;
    const end = Math.min(this.size, Math.ceil((offset + data.length) / 512) * 512);
    const sectors = new Uint8Array(end - start);
    await this.read(start, sectors);
    sectors.set(data, offset - start);
    await this.write(start, sectors);
  }

  /** qemu's write-zeroes: zero clusters where whole clusters are covered (ClusterWriter.writeZeroes). */
  async writeZeroes(offset: number, length: number, options: { readonly mayUnmap: boolean }): Promise<void> {
    const writer = this.writer;
    if (!writer) throw new Error(`${this.filename}: the image is opened read-only`);
    if (offset < 0 || offset + length > this.size) {
      throw new Error(`${this.filename}: write of ${length} bytes at ${offset} is beyond the end (${this.size})`);
    }
    if (this.bitmapTracker && length > 0) await this.bitmapsReady();
    this.bitmapTracker?.mark(offset, length);
    if (length > 0) await this.modify(() => writer.writeZeroes(offset, length, options.mayUnmap));
  }

  /** Run a change of guest data under the write lock, the image marked dirty first when refcounts are lazy. */
  private modify(body: () => Promise<void>): Promise<void> {
    return this.lock.write(async () => {
      if (this.lazy && !this.markedDirty) {
        await this.setIncompatible(this.header.incompatible | INCOMPAT_DIRTY);
        this.markedDirty = true;
      }
      await body();
    });
  }

  private compressedWriter: CompressedWriter | undefined;

  /** Store a whole guest cluster compressed (convert -c): see CompressedWriter. */
  writeCompressed(offset: number, data: Uint8Array): Promise<void> {
    if (this.encryption) return Promise.reject(codedError('Compression and encryption not supported at the same time', 'unsupported-operation'));
    if (!this.writer) return Promise.reject(new Error(`${this.filename}: the image is opened read-only`));
    const tracker = this.bitmapTracker;
    if (tracker) return this.bitmapsReady().then(() => (tracker.mark(offset, data.length), this.storeCompressed(offset, data)));
    return this.storeCompressed(offset, data);
  }

  private bitmapsMarked: Promise<void> | undefined;
  /** The tracked bitmaps marked in use before the first guest write; the overlap guard then re-reads where the directory went. */
  private bitmapsReady(): Promise<void> {
    return (this.bitmapsMarked ??= this.bitmapTracker!.ready().then(() => this.overlap.invalidate()));
  }

  private storeCompressed(offset: number, data: Uint8Array): Promise<void> {
    this.compressedWriter ??= new CompressedWriter(this, (body) => this.modify(body));
    return this.compressedWriter.write(offset, data);
  }

  async flush(): Promise<void> {
    if (this.writer) await this.lock.write(() => this.writeBackAndFlush());
  }

  /**
   * Fresh writes under way finished, deferred metadata written (refcounts before the L2 entries
   * that need them), then a flush. The caller holds the write lock.
   */
  private async writeBackAndFlush(): Promise<void> {
    await this.writer?.drain();
    await this.refcounts?.writeBack();
    await this.map.writeBack();
    await this.child.flush();
  }

  /**
   * Before a maintenance operation, which reads metadata from the file: the writes under way
   * finished and deferred changes written. (Without deferred writes no flush is forced.)
   */
  private async settled(): Promise<void> {
    const writer = this.writer;
    if (!writer) return;
    await this.lock.write(async () => {
      await writer.drain();
      if (this.map.hasDeferredWrites || this.refcounts?.hasDeferredWrites) await this.writeBackAndFlush();
    });
  }

  /** The header's incompatible feature bits (v3), synced. */
  private async setIncompatible(bits: bigint): Promise<void> {
    const { offset, bytes } = incompatibleField(bits);
    await this.child.write(offset, bytes);
    await this.child.flush();
  }

  async close(): Promise<void> {
    // After a refused write on metadata nothing more is written (as QEMU's node, made unusable):
    // deferred metadata could only land on what the refusal protected.
    if (this.writer && !this.overlap.signalled) {
      await this.lock.write(async () => {
        await this.writeBackAndFlush();
        await this.bitmapTracker?.store();
        if (this.markedDirty) await this.setIncompatible(this.header.incompatible & ~INCOMPAT_DIRTY);
      });
    }
    await this.backing?.close();
    await this.dataFile?.close();
    await this.child.close();
  }

  /** qemu-img resize (resize.ts). */
  async resize(size: number, options: ResizeOptions): Promise<void> {
    await this.settled();
    return this.maintained(() => resizeKeepingBitmaps(this, size, options));
  }

  /** qemu-img amend (amend.ts). */
  async amend(options: Readonly<Record<string, string>>, settings: AmendSettings = {}): Promise<void> {
    if (this.encryption) return amendEncrypted(this, this.encryption, options, settings);
    await this.settled();
    return this.maintained(() => amendImage(this, options));
  }

  /** qemu-img rebase: record another backing file (backing.ts); the open backing node stays until reopened. */
  async setBacking(file: string | undefined, format: string | undefined): Promise<void> {
    await this.settled();
    return this.maintained(() => setBackingFile(this, file, format));
  }

  /** qemu-img bitmap (bitmaps/change.ts). */
  readonly persistentBitmaps: PersistentBitmaps = {
    list: () => listBitmaps(this),
    change: async (operation) => {
      await this.settled();
      return this.maintained(() => changeBitmaps(this, operation)).finally(() => this.overlap.invalidate());
    },
    read: (name) => readBitmap(this, name),
    merge: async (name, bits) => {
      await this.settled();
      return this.maintained(() => mergeIntoBitmap(this, name, bits)).finally(() => this.overlap.invalidate());
    },
  };

  /** qemu-img commit: unallocate every guest cluster (make-empty.ts). */
  async makeEmpty(): Promise<void> {
    await this.settled();
    return this.maintained(() => makeImageEmpty(this));
  }

  /** Consistency check (and repair, when opened for writing): see check/check.ts. */
  async check(repair: CheckRepair): Promise<CheckResult> {
    await this.settled();
    return this.maintained(() => this.lock.write(async () => {
      const result = await checkImage(this, repair);
      // As qemu-img: a repair that leaves no corruption (and no failed check) clears the corrupt mark.
      const h = this.header;
      if (repair !== 'none' && this.writer && !result.corruptions && !result.checkErrors && h.incompatible & INCOMPAT_CORRUPT) {
        const bits = h.incompatible & ~INCOMPAT_CORRUPT;
        await this.setIncompatible(bits);
        this.header = { ...h, incompatible: bits };
      }
      return result;
    }));
  }

  /** A maintenance operation, after which the metadata is indexed again for the overlap check. */
  private async maintained<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } finally {
      this.overlap.invalidate();
    }
  }

  /** The image found corrupt (the overlap check): the corrupt bit set (v2 headers have no room for it), synced. */
  async markCorrupt(): Promise<void> {
    const h = this.header;
    if (h.version < 3 || h.incompatible & INCOMPAT_CORRUPT) return;
    await this.setIncompatible(h.incompatible | INCOMPAT_CORRUPT);
    this.header = { ...h, incompatible: h.incompatible | INCOMPAT_CORRUPT };
  }

  /** A driver message on stderr, unprefixed (QEMU's fprintf). */
  report(message: string): void {
    globalThis.process?.stderr.write(message);
  }

  async allocatedSize(): Promise<number | undefined> {
    return this.child.allocatedSize?.();
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    const status = await this.mappedStatus(offset, length);
    // As qemu: an encrypted cluster's host bytes are not the guest's, so no offset is reported.
    return this.encryption ? withoutHostPlace(status) : status;
  }

  private async mappedStatus(offset: number, length: number): Promise<BlockStatus> {
    // Read-only: no lock, as read() (nothing changes the tables).
    const extent = this.writer
      ? await this.lock.read(async () => {
          await this.writer?.settle(offset, length);
          return this.map.lookup(offset, length);
        })
      : await this.map.lookup(offset, length);
    switch (extent.kind) {
      case 'data': {
        const file = (this.dataFile ?? this.child).filename;
        return { length: extent.length, zero: false, data: true, offset: extent.hostPosition!, allocated: true, file };
      }
      case 'compressed':
        return { length: extent.length, zero: false, data: true, allocated: true };
      case 'zero':
        return extent.hostPosition === undefined
          ? { length: extent.length, zero: true, data: false, allocated: true }
          : { length: extent.length, zero: true, data: false, allocated: true, offset: extent.hostPosition, file: (this.dataFile ?? this.child).filename };
      case 'unallocated': {
        // Without a backing file, unallocated clusters read as zeroes.
        const place = extent.hostPosition === undefined ? {} : { offset: extent.hostPosition, file: (this.dataFile ?? this.child).filename };
        return { length: extent.length, zero: !this.backing, data: false, allocated: false, ...place };
      }
    }
  }

  /** A cluster, stored whole when written in part, unless subclusters, a data file or a backing file make partial writes show. */
  allocationUnit(): number | undefined {
    return this.header.extendedL2 || this.dataFile || this.backing ? undefined : this.header.clusterSize;
  }

  describe(): ImageDescription {
    const h = this.header;
    const encrypt = this.encryption ? { encrypt: this.encryption.describe() } : {};
    const data: Record<string, unknown> =
      h.version === 2
        ? { compat: '0.10', 'compression-type': 'zlib', 'refcount-bits': 2 ** h.refcountOrder, ...encrypt }
        : {
            compat: '1.1',
            'compression-type': compressionTypeName(h.compressionType),
            'lazy-refcounts': (h.compatible & COMPAT_LAZY_REFCOUNTS) !== 0n,
            ...(this.bitmaps.bitmaps.length ? { bitmaps: this.bitmaps.bitmaps.map(bitmapInfo) } : {}),
            'refcount-bits': 2 ** h.refcountOrder,
            // qemu-img's order (its dictionary's): data-file, encrypt, data-file-raw.
            ...(h.extensions.dataFile !== undefined ? { 'data-file': h.extensions.dataFile } : {}),
            ...encrypt,
            ...(h.extensions.dataFile !== undefined ? { 'data-file-raw': (h.autoclear & AUTOCLEAR_DATA_FILE_RAW) !== 0n } : {}),
            corrupt: (h.incompatible & INCOMPAT_CORRUPT) !== 0n,
            'extended-l2': h.extendedL2,
          };
    return {
      clusterSize: h.clusterSize,
      ...(h.backingFile !== undefined ? { backingFile: h.backingFile } : {}),
      ...(h.extensions.backingFormat !== undefined ? { backingFormat: h.extensions.backingFormat } : {}),
      dirty: (h.incompatible & INCOMPAT_DIRTY) !== 0n,
      ...(this.encryption ? { encrypted: true } : {}),
      ...(this.snapshots.length ? { snapshots: this.snapshots.map(({ l1TableOffset, l1Size, ...info }) => info) } : {}),
      formatSpecific: { type: 'qcow2', data },
    };
  }

  private async readExtent(guestOffset: number, extent: Awaited<ReturnType<ClusterMap['lookup']>>, into: Uint8Array): Promise<void> {
    switch (extent.kind) {
      case 'zero':
        into.fill(0);
        return;
      case 'unallocated':
        return this.readBacking(guestOffset, into);
      case 'data':
        if (this.encryption) return this.encryption.read(this.dataFile ?? this.child, extent.hostPosition!, guestOffset, into);
        return readHost(this.dataFile ?? this.child, extent.hostPosition!, into);
      case 'compressed': {
        if (this.encryption) throw corrupt(this.filename, 'compressed cluster in an encrypted image');
        if (this.dataFile) throw corrupt(this.filename, 'compressed cluster in an image with an external data file');
        const clusterSize = this.header.clusterSize;
        if (extent.compressedLength > 2 * clusterSize) throw corrupt(this.filename, 'compressed cluster is larger than two clusters');
        const compressed = new Uint8Array(extent.compressedLength);
        await readHost(this.child, extent.hostOffset, compressed);
        // The codec module loaded first: one that cannot be loaded is reported as itself, not as a corrupt cluster.
        if (this.header.compressionType !== COMPRESSION_ZLIB) await codecOf(this.header.compressionType);
        let cluster: Uint8Array;
        try {
          cluster = await decompressCluster(compressed, clusterSize, this.header.compressionType);
        } catch (error) {
          throw corrupt(this.filename, `compressed cluster at ${extent.hostOffset}: ${(error as Error).message}`);
        }
        const inCluster = guestOffset % clusterSize;
        into.set(cluster.subarray(inCluster, inCluster + into.length));
        return;
      }
    }
  }

  /** Unallocated ranges come from the backing file; beyond its end (or without one) they are zero. */
  private async readBacking(offset: number, into: Uint8Array): Promise<void> {
    const available = this.backing ? Math.max(0, Math.min(into.length, this.backing.size - offset)) : 0;
    if (available > 0) await this.backing!.read(offset, into.subarray(0, available));
    into.fill(0, available);
  }
}

/** Snapshot operations that first write what metadata changes are still deferred. */
function afterSettling(snapshots: InternalSnapshots, settled: () => Promise<void>, invalidate: () => void): InternalSnapshots {
  return {
    create: async (name) => (await settled(), snapshots.create(name).finally(invalidate)),
    apply: async (name) => (await settled(), snapshots.apply(name).finally(invalidate)),
    delete: async (name) => (await settled(), snapshots.delete(name).finally(invalidate)),
    view: async (selector) => (await settled(), snapshots.view!(selector)),
  };
}
