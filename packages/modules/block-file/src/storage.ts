import { constants, readFile, type Stats } from 'node:fs';
import type { BlockPermissions } from '@tessera/core';
import { closeFile, openFile, readAt, statFile, statPath, truncateFile } from './fd.ts';
import { ImageLocks } from './image-locks.ts';

/** What a path names, once opened: a regular file or a block device (qemu's file and host_device). */
export interface OpenStorage {
  readonly fd: number;
  readonly size: number;
  readonly device: boolean;
  /** Device and inode: the same file under any name. */
  readonly identity: string;
}

const { O_RDONLY, O_RDWR, O_CREAT, O_NONBLOCK } = constants;

/** What QEMU's file driver holds while it creates a file: it writes and resizes, and lets no one else resize. */
const CREATING: BlockPermissions = { use: ['write', 'resize'], unshare: ['resize'] };

/**
 * Open a path as storage. O_NONBLOCK so that open(2) itself never waits (a FIFO without a
 * writer, a terminal); what the descriptor then turns out to be decides: a regular file or a
 * block device is storage, anything else is refused with qemu's message.
 */
export async function openStorage(path: string, readOnly: boolean): Promise<OpenStorage> {
  const fd = await openOrExplain(path, (readOnly ? O_RDONLY : O_RDWR) | O_NONBLOCK);
  try {
    const stat = await statFile(fd);
    const identity = identityOf(stat);
    if (stat.isFile()) return { fd, size: stat.size, device: false, identity };
    if (stat.isBlockDevice()) return { fd, size: await deviceSize(fd, stat), device: true, identity };
    throw notStorage(path);
  } catch (error) {
    await closeFile(fd);
    throw error;
  }
}

/** Device and inode, as BlockNode.identity: the same file under any name or link. */
function identityOf(stat: { readonly dev: number; readonly ino: number }): string {
  return `${stat.dev}:${stat.ino}`;
}

/** The identity of the file at `path` (followed through links), or undefined when it cannot be read. */
export async function storageIdentity(path: string): Promise<string | undefined> {
  try {
    return identityOf(await statPath(path));
  } catch {
    return undefined;
  }
}

/**
 * Make `path` an empty image of `size` bytes. A regular file is created or emptied and sized; a
 * block device keeps its size and contents (qemu's host_device: nothing to truncate), and one
 * smaller than `size` is refused as qemu refuses it.
 */
export async function createStorage(path: string, size: number): Promise<void> {
  // Not O_TRUNC: an existing file is emptied only once this process holds its locks, so a file in
  // use (by QEMU, by another tessera, or as this command's own input) loses nothing. Read and
  // write: the shared locks need a descriptor open for reading.
  const fd = await openOrExplain(path, O_RDWR | O_CREAT | O_NONBLOCK, 'create');
  try {
    const stat = await statFile(fd);
    if (stat.isFile() || stat.isBlockDevice()) new ImageLocks(fd, path).set(CREATING);
    if (stat.isBlockDevice()) {
      if ((await deviceSize(fd, stat)) < size) throw new Error('Cannot grow device files');
      return;
    }
    if (!stat.isFile()) throw notStorage(path);
    // Emptied first (what O_TRUNC would have done before the locks were held), then sized.
    await truncateFile(fd, 0);
    await truncateFile(fd, size);
  } finally {
    await closeFile(fd);
  }
}

function notStorage(path: string): Error {
  return new Error(`'file' driver requires '${path}' to be a regular file`);
}

async function openOrExplain(path: string, flags: number, verb: 'open' | 'create' = 'open'): Promise<number> {
  try {
    return await openFile(path, flags);
  } catch (error) {
    const reason = describe(error as NodeJS.ErrnoException);
    throw new Error(`Could not ${verb} '${path}': ${reason}`, { cause: error });
  }
}

function describe(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOENT':
      return 'No such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'Permission denied';
    case 'EISDIR':
      return 'Is a directory';
    case 'ENXIO':
      // A FIFO opened for writing without O_NONBLOCK's reader, a device without its driver.
      return 'No such device or address';
    default:
      return error.message;
  }
}

/**
 * A block device's size: fstat says 0. Linux publishes it in sectors of 512 bytes under
 * /sys/dev/block/MAJOR:MINOR/size; where that is not readable (no /sys in a container), the end
 * is found by reading: a read at or past the end returns nothing.
 */
async function deviceSize(fd: number, stat: Stats): Promise<number> {
  const fromSys = await sysfsSize(stat.rdev);
  return fromSys ?? (await probeEnd(fd));
}

function sysfsSize(rdev: number): Promise<number | undefined> {
  // Linux's dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31.
  const high = Math.floor(rdev / 2 ** 32);
  const low = rdev >>> 0;
  const major = ((low >>> 8) & 0xfff) | ((high & 0xfff) << 12);
  const minor = (low & 0xff) | ((low >>> 12) & 0xfff00);
  return new Promise((resolve) =>
    readFile(`/sys/dev/block/${major}:${minor}/size`, 'latin1', (error, text) => {
      const sectors = error ? NaN : Number(text.trim());
      resolve(Number.isSafeInteger(sectors * 512) && sectors >= 0 ? sectors * 512 : undefined);
    }),
  );
}

/** The first offset (a multiple of 512) at which a read returns nothing: doubling, then halving. */
async function probeEnd(fd: number): Promise<number> {
  const byte = new Uint8Array(1);
  const readable = async (sector: number) => (await readAt(fd, byte, 0, 1, sector * 512)) === 1;
  if (!(await readable(0))) return 0;
  let below = 0; // a sector known readable
  let above = 1; // a sector not yet known unreadable
  while (await readable(above)) [below, above] = [above, above * 2];
  while (above - below > 1) {
    const middle = Math.floor((below + above) / 2);
    if (await readable(middle)) below = middle;
    else above = middle;
  }
  return above * 512;
}
