// Compressed clusters (`qemu-img convert -c`): each guest cluster deflated on the thread pool (many
// at once), then stored in the order the writes were issued, packed byte after byte into host
// clusters as QEMU packs them: a compressed cluster starts where the previous one ended, spilling
// into the next host cluster when that one is the next allocated, else starting a fresh one. A host
// cluster's refcount counts the compressed clusters that touch it. One that does not shrink is
// stored as an ordinary cluster.
//
// Order on disk, so a crash leaves at most leaks: refcounts raised, the compressed bytes written,
// sync, then the L2 entry.
import type { BlockNode } from '@tessera/core';
import { compressCluster } from '../compress.ts';
import { COMPAT_LAZY_REFCOUNTS } from '../header/features.ts';
import type { Qcow2Header } from '../header/header.ts';
import type { Refcounts } from '../refcount/refcounts.ts';
import type { ClusterMap } from './mapping.ts';
import type { ClusterWriter } from './writer.ts';
import type { OverlapGuard } from '../overlap/guard.ts';

const COMPRESSED = 1n << 62n;
const OFFSET_MASK = 0x00fffffffffffe00n;
const SECTOR = 512;

/** The parts of an image opened for writing that storing compressed clusters needs. */
export interface CompressedTarget {
  readonly header: Qcow2Header;
  readonly map: ClusterMap;
  readonly writer: ClusterWriter | undefined;
  readonly refcounts: Refcounts | undefined;
  readonly child: BlockNode;
  readonly dataFile: BlockNode | undefined;
  readonly overlap: Pick<OverlapGuard, 'check'>;
}

export class CompressedWriter {
  /** Stores in issue order: each waits for the one before it. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Where the next compressed cluster may start (inside the host cluster used last), if anywhere. */
  private free: number | undefined;

  constructor(
    private readonly image: CompressedTarget,
    /** Run a change of the image's metadata: under its write lock, the image marked dirty when lazy. */
    private readonly modify: (body: () => Promise<void>) => Promise<void>,
  ) {}

  /** Store the guest cluster at `offset` (cluster aligned; `data` a whole cluster) compressed. */
  write(offset: number, data: Uint8Array): Promise<void> {
    const { clusterSize, size } = this.image.header;
    if (this.image.dataFile) return Promise.reject(new Error('Operation not supported: compressed clusters with an external data file'));
    if (offset % clusterSize !== 0 || data.length !== clusterSize || offset < 0 || offset >= size) {
      return Promise.reject(new Error(`compressed write of ${data.length} bytes at ${offset}: whole clusters only`));
    }
    const compressed = compressCluster(data); // starts now: clusters compress in parallel
    compressed.catch(() => {}); // a failure is reported when its turn comes, not as unhandled before
    const stored = this.queue.then(async () => {
      const bytes = await compressed;
      await this.modify(() => (bytes ? this.store(offset, bytes) : this.image.writer!.write(offset, data)));
    });
    this.queue = stored.catch(() => {});
    return stored;
  }

  private async store(offset: number, bytes: Uint8Array): Promise<void> {
    const { header, writer, refcounts, child } = this.image;
    if (!writer || !refcounts) throw new Error(`${child.filename}: the image is opened read-only`);
    await writer.drain(); // a fresh write under way may hold this cluster, its entry not yet set
    const cs = header.clusterSize;
    const entrySize = header.extendedL2 ? 16 : 8;
    const l2Entries = cs / entrySize;
    const cluster = offset / cs;
    const [l2Offset, table] = await writer.l2For(Math.floor(cluster / l2Entries));
    const at = (cluster % l2Entries) * entrySize;
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    // As QEMU: compression never overwrites, a cluster that holds anything is an error.
    if ((view.getBigUint64(at) & (OFFSET_MASK | COMPRESSED)) !== 0n) throw new Error('Input/output error');

    const host = await this.place(bytes.length);
    await this.image.overlap.check(host, bytes.length);
    await child.write(host, bytes);
    if ((header.compatible & COMPAT_LAZY_REFCOUNTS) === 0n) await child.flush();

    const offsetBits = BigInt(62 - (header.clusterBits - 8));
    const extraSectors = BigInt(Math.floor((host + bytes.length - 1) / SECTOR) - Math.floor(host / SECTOR));
    view.setBigUint64(at, COMPRESSED | (extraSectors << offsetBits) | BigInt(host));
    if (header.extendedL2) view.setBigUint64(at + 8, 0n); // compressed: no subcluster bits
    await this.image.map.storeEntries(l2Offset, table, at, at + entrySize);
  }

  /** Host bytes for a compressed cluster of `length` bytes, the refcounts of their clusters raised. */
  private async place(length: number): Promise<number> {
    const refcounts = this.image.refcounts!;
    const cs = this.image.header.clusterSize;
    const free = this.free;
    const end = free === undefined ? 0 : (Math.floor(free / cs) + 1) * cs;
    // The cluster in use can take another reference (not with 1-bit refcounts, say): else a fresh one.
    const max = (1n << (1n << BigInt(this.image.header.refcountOrder))) - 1n;
    const shareable = free !== undefined && (await refcounts.get(Math.floor(free / cs))) < max;
    let start: number;
    if (shareable && free + length <= end) {
      start = free;
      await refcounts.change([Math.floor(free / cs)], 1n);
    } else {
      const [next] = (await refcounts.allocate(1)) as [number]; // counted once already
      if (shareable && next === end) {
        start = free; // spills over into the next cluster, right after it
        await refcounts.change([Math.floor(free / cs)], 1n);
      } else {
        start = next;
      }
    }
    const stop = start + length;
    this.free = stop % cs === 0 ? undefined : stop;
    return start;
  }
}
