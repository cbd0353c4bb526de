// Compressed clusters (`qemu-img convert -c`): each guest cluster deflated on the thread pool (many
// at once), then stored in the order the writes were issued, packed byte after byte into host
// clusters as QEMU packs them: a compressed cluster starts where the previous one ended, spilling
// into the next host cluster when that one is the next allocated, else starting a fresh one. A host
// cluster's refcount counts the compressed clusters that touch it. One that does not shrink is
// stored as an ordinary cluster.
//
// Order on disk, so a crash leaves at most leaks: refcounts raised, the compressed bytes written,
// sync, then the L2 entry.
import { compressCluster } from '../compress.ts';
import { COMPAT_LAZY_REFCOUNTS } from '../header/features.ts';
import { L2E_OFFSET_MASK, OFLAG_COMPRESSED, encodeCompressed } from '../layout.ts';
import { maxRefcount } from '../refcount/entries.ts';
import type { Qcow2State } from '../state.ts';

export class CompressedWriter {
  /** Stores in issue order: each waits for the one before it. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Where the next compressed cluster may start (inside the host cluster used last), if anywhere. */
  private free: number | undefined;

  constructor(
    private readonly image: Qcow2State,
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
    const compressed = compressCluster(data, this.image.header.compressionType); // starts now: clusters compress in parallel
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
    const { l2Offset, table, view, at } = await writer.entryFor(offset);
    // As QEMU: compression never overwrites, a cluster that holds anything is an error.
    if ((view.getBigUint64(at) & (L2E_OFFSET_MASK | OFLAG_COMPRESSED)) !== 0n) throw new Error('Input/output error');

    const host = await this.place(bytes.length);
    await this.image.overlap.check(host, bytes.length);
    await child.write(host, bytes);
    if ((header.compatible & COMPAT_LAZY_REFCOUNTS) === 0n) await child.flush();

    view.setBigUint64(at, encodeCompressed(host, bytes.length, header.clusterBits));
    if (header.extendedL2) view.setBigUint64(at + 8, 0n); // compressed: no subcluster bits
    await this.image.map.storeEntries(l2Offset, table, at, at + this.image.map.geometry.l2EntrySize);
  }

  /** Host bytes for a compressed cluster of `length` bytes, the refcounts of their clusters raised. */
  private async place(length: number): Promise<number> {
    const refcounts = this.image.refcounts!;
    const cs = this.image.header.clusterSize;
    const free = this.free;
    const end = free === undefined ? 0 : (Math.floor(free / cs) + 1) * cs;
    // The cluster in use can take another reference (not with 1-bit refcounts, say): else a fresh one.
    const max = maxRefcount(this.image.header.refcountOrder);
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
