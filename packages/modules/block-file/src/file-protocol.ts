import type { BlockNode, BlockOptionSpec, BlockPermission, BlockPermissions, BlockProtocolDriver, BlockStatus, ResizeOptions } from '@tessera/core';
import { codedError } from '@tessera/module-kit/coded-error';
import { ChangeOrder } from './change-order.ts';
import { WriteBatch } from './write-batch.ts';
import { closeFile, readAt, statFile, syncData, truncateFile } from './fd.ts';
import { ImageLocks } from './image-locks.ts';
import { FILE_OPEN_OPTIONS, NO_LOCKS, lockingWanted } from './locking-option.ts';
import { LockingUnavailableError, loadedOfdLocks, ofdLocks, type OfdLocks } from './native-lock.ts';
import { createStorage, openStorage, storageIdentity } from './storage.ts';

const READ: BlockPermission[] = ['consistent read'];
const READ_WRITE: BlockPermission[] = ['consistent read', 'write'];

/**
 * Creation options of local files, for formats that leave them to the file (raw), in qemu-img's
 * order; the tool applies `preallocation`. `nocow` (btrfs) and `extent_size_hint` (XFS) are
 * accepted as hints only.
 */
const CREATE_OPTIONS: readonly BlockOptionSpec[] = [
  { name: 'nocow', type: 'bool', description: 'Turn off copy-on-write (valid only on btrfs)' },
  { name: 'preallocation', type: 'str', description: 'Preallocation mode (allowed values: off, falloc, full)' },
  { name: 'extent_size_hint', type: 'size', description: 'Extent size hint for the image file, 0 to disable' },
];

/**
 * Local files through Node's asynchronous file API (libuv's thread pool): guest I/O never blocks.
 * Reads take what the page cache holds at once first (readCached).
 */
export const fileProtocol: BlockProtocolDriver = {
  name: 'file',
  schemes: [],
  options: FILE_OPEN_OPTIONS,
  async open(path, { readOnly, permissions, driverOptions }) {
    const locking = lockingWanted(driverOptions);
    const { fd, size, device, identity } = await openStorage(path, readOnly);
    try {
      // Locked before the node exists, so nothing reads a header another process is rewriting.
      const locks = locking ? new ImageLocks(fd, path) : NO_LOCKS;
      locks.set(permissions ?? { use: readOnly ? READ : READ_WRITE, unshare: [] });
      return new FileNode(path, fd, size, readOnly, locks, device, identity);
    } catch (error) {
      await closeFile(fd);
      throw error;
    }
  },
  create: createStorage,
  createOptions: CREATE_OPTIONS,
  async identify(path) {
    return storageIdentity(path);
  },
};

const ZERO_CHUNK = 2 * 1024 * 1024;
/** The smallest read for which the addon is loaded (if nothing has yet) to read from the page cache. */
const LOAD_ADDON_FOR_READ = 64 * 1024;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const EINVAL = 22;
const EOPNOTSUPP = 95;

class FileNode implements BlockNode {
  readonly driver = 'file';
  /** Operations (reads, writes, ...) under way: close waits for them, so that none meets a reused descriptor. */
  private pending = 0;
  private drained: (() => void) | undefined;

  constructor(
    readonly filename: string,
    private readonly fd: number,
    private currentSize: number,
    readonly readOnly: boolean,
    private readonly locks: Pick<ImageLocks, 'set'>,
    /** A block device: its size is fixed (qemu's host_device cannot resize it). */
    private readonly device = false,
    readonly identity?: string,
  ) {
    // A block device's "holes" are not the file's: reported as data, as before.
    this.seeksHoles = !device;
    this.writes = new WriteBatch(fd, loadedOfdLocks);
  }

  /** Change the image locks held (the format on top decided what it needs); throws, keeping the old ones, on a conflict. */
  async setPermissions(permissions: BlockPermissions): Promise<void> {
    this.locks.set(permissions);
  }

  /** Runs a whole operation, all its calls, as one under way (not each call: between two, close would see none). */
  private async tracked<T>(operation: () => Promise<T>): Promise<T> {
    this.pending++;
    try {
      return await operation();
    } finally {
      if (--this.pending === 0) this.drained?.();
    }
  }

  get size(): number {
    return this.currentSize;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    if (offset < 0 || offset + into.length > this.currentSize) {
      throw codedError(`${this.filename}: read of ${into.length} bytes at ${offset} is beyond the end (${this.currentSize})`, 'out-of-range');
    }
    let done = this.readCached(offset, into);
    if (done === into.length) return;
    await this.tracked(async () => {
      while (done < into.length) {
        const bytesRead = await readAt(this.fd, into, done, into.length - done, offset + done);
        if (bytesRead === 0) throw new Error(`${this.filename}: file shrank while reading at ${offset + done}`);
        done += bytesRead;
      }
    });
  }

  /** Whether reads try the page cache first: false once the system said it cannot (or no addon). */
  private readsCached = true;

  /**
   * The bytes at the start of `into` read at once from the page cache, without a trip through
   * libuv's thread pool: two thread hand-offs per read, ~30 us, more than copying a cached 64 KiB.
   * 0 when none is cached (the caller reads the rest through the pool, which waits for the disk).
   */
  private readCached(offset: number, into: Uint8Array): number {
    if (!this.readsCached) return 0;
    let addon: OfdLocks | undefined;
    try {
      // Not loaded for a small read alone: `info` of a raw image makes a few and takes no lock.
      addon = into.length >= LOAD_ADDON_FOR_READ ? ofdLocks() : loadedOfdLocks();
    } catch (error) {
      if (!(error instanceof LockingUnavailableError)) throw error;
      this.readsCached = false;
      return 0;
    }
    if (!addon) return 0;
    try {
      return Math.max(0, addon.readCached(this.fd, into, 0, into.length, offset));
    } catch {
      // Not offered (an old kernel, a file system without RWF_NOWAIT), or a failing file: asked
      // no more; the thread pool's read reports a real error in its own words.
      this.readsCached = false;
      return 0;
    }
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.readOnly) throw new Error(`${this.filename}: the image is opened read-only`);
    await this.tracked(() =>
      this.changes.write(data.length, () => this.writes.write(data, offset)),
    );
    this.currentSize = Math.max(this.currentSize, offset + data.length);
  }

  /** The order in which this file's writes and truncates reach the kernel (change-order.ts says why). */
  private readonly changes = new ChangeOrder();
  /** The writes of one turn of the event loop, made by one thread-pool job (write-batch.ts). */
  private readonly writes: WriteBatch;

  async flush(): Promise<void> {
    if (!this.readOnly) await this.tracked(() => syncData(this.fd));
  }

  /** Closing once, for every caller: a second close must not close a descriptor reused since. */
  private closing: Promise<void> | undefined;

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.pending > 0) await new Promise<void>((resolve) => (this.drained = resolve));
      await closeFile(this.fd);
    })();
    return this.closing;
  }

  /**
   * A truncate. Preallocation of the grown part: Node has no fallocate, so `falloc` and `full`
   * both write zeroes there (the blocks are allocated either way); `metadata` is `off` for a file.
   */
  async resize(size: number, { shrink, preallocation = 'off' }: ResizeOptions): Promise<void> {
    if (this.readOnly) throw new Error(`${this.filename}: the image is opened read-only`);
    const old = this.currentSize;
    if (size < old && !shrink) throw new Error('Use the --shrink option to perform a shrink operation.');
    if (this.device) {
      if (size !== old) throw new Error('Cannot resize device files');
      return;
    }
    await this.tracked(async () => {
      await this.changes.alone(() => truncateFile(this.fd, size));
      this.dataExtent = undefined; // a shrink may have cut it
      this.currentSize = size;
      if (size > old && (preallocation === 'falloc' || preallocation === 'full')) {
        const zeroes = new Uint8Array(Math.min(size - old, ZERO_CHUNK));
        try {
          for (let at = old; at < size; at += zeroes.length) await this.write(at, zeroes.subarray(0, Math.min(zeroes.length, size - at)));
        } catch (error) {
          // qemu's file driver words it so (the file keeps its new length, as there).
          throw new Error(`Could not write zeros for preallocation: ${(error as Error).message}`, { cause: error });
        }
      }
    });
  }

  async allocatedSize(): Promise<number> {
    return (await this.tracked(() => statFile(this.fd))).blocks * 512;
  }

  /** Whether lseek(SEEK_DATA) is worth asking: false once the file system said it cannot (or no addon). */
  private seeksHoles: boolean;

  /**
   * The last data extent lseek found, `[start, end)`. Data stays data (writes only fill holes;
   * only a shrink, which forgets it, takes data away), so offsets inside it are answered without
   * two system calls each: convert asks several times per 2 MiB chunk, and a disk's data is
   * mostly a few long extents. qemu's file driver keeps the same one-extent cache, of data only:
   * reporting data where another process has since punched a hole reads right all the same.
   */
  private dataExtent: { readonly start: number; readonly end: number } | undefined;

  /**
   * Data or hole from `offset`, as qemu's file driver finds it (file-posix.c's find_allocation):
   * both kinds are allocated at their own offset in this file; a hole reads as zeroes. Where the
   * file system cannot tell (or for a block device), the whole range is data.
   */
  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    length = Math.min(length, this.currentSize - offset);
    const cached = this.dataExtent;
    const extent = cached && offset >= cached.start && offset < cached.end ? { data: true, end: cached.end } : this.seeksHoles ? this.extentAt(offset) : undefined;
    const data = extent?.data ?? true;
    const end = extent?.end ?? offset + length;
    return { length: Math.max(0, Math.min(length, end - offset)), zero: !data, data, offset, allocated: true, file: this.filename };
  }

  /** The extent holding `offset`: data or hole, and where it ends; undefined when the file system cannot say. */
  private extentAt(offset: number): { data: boolean; end: number } | undefined {
    let seek: OfdLocks['seek'];
    try {
      seek = ofdLocks().seek;
    } catch (error) {
      if (!(error instanceof LockingUnavailableError)) throw error;
      this.seeksHoles = false; // no addon (a build without one): every byte is data, as before
      return undefined;
    }
    try {
      const dataAt = seek(this.fd, offset, SEEK_DATA);
      if (dataAt === -1) return { data: false, end: Infinity }; // a trailing hole
      if (dataAt > offset) return { data: false, end: dataAt };
      if (dataAt < offset) return undefined; // not a valid answer: as qemu, learn nothing
      const holeAt = seek(this.fd, offset, SEEK_HOLE);
      // ENXIO here: truncated behind our back; a hole at offset: dug since. Either way, data is safe.
      if (holeAt <= offset) return undefined;
      this.dataExtent = { start: offset, end: holeAt };
      return { data: true, end: holeAt };
    } catch (error) {
      // EINVAL/EOPNOTSUPP: a file system without hole reporting; asked no more.
      const code = (error as { errno?: number }).errno;
      if (code === EINVAL || code === EOPNOTSUPP) this.seeksHoles = false;
      return undefined;
    }
  }
}
