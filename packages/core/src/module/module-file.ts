import { close, constants, fstat, open, read, stat, type Stats } from 'node:fs';
import type { ModuleFileRefusal } from './errors.ts';
import { MAX_HEADER_BYTES } from './header.ts';

/** What looking for a module file at one path found. */
export type ModuleFileOutcome =
  | { readonly found: false }
  | { readonly found: true; readonly bytes: Uint8Array }
  | {
      readonly found: true;
      readonly refusal: ModuleFileRefusal;
      /** For a regular file of the wrong size: its first bytes, where a module header would be. */
      readonly head?: Uint8Array;
    };

// O_NONBLOCK: opening a FIFO that has no writer would otherwise block in open(2) forever.
// O_NOCTTY: a terminal named like a module must not become this process's controlling terminal.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/**
 * Read the module file at `path`, which the build made exactly `size` bytes long, without letting
 * whatever is there hang the process or fill its memory. Only a regular file is read (a symbolic
 * link is followed, and must lead to one); a directory, FIFO, socket or device is refused, and so
 * is a file of another size (of which only the first bytes are read, for a better diagnosis from
 * its header). At most `size + 1` bytes are ever read, so /dev/zero or a 1 TiB sparse file costs
 * nothing.
 *
 * stat(2) first, so that a device is never even opened (opening one can act: a watchdog starts, a
 * tape rewinds). That check is only an early exit: the decision is made by fstat(2) on the opened
 * descriptor, so a file swapped in between the two is caught, and is never read.
 */
export async function readModuleFile(path: string, size: number): Promise<ModuleFileOutcome> {
  const refused = (kind: ModuleFileRefusal['kind'], reason: string) => ({ found: true as const, refusal: { kind, path, reason } });
  let stats: Stats;
  try {
    stats = await call<Stats>((done) => stat(path, done));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { found: false }; // a dangling symlink too
    return refused('unreadable', cannotOpen(error));
  }
  const early = notRegular(stats);
  if (early) return refused('not-a-regular-file', early);

  let fd: number;
  try {
    fd = await call<number>((done) => open(path, OPEN_FLAGS, done));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { found: false }; // removed meanwhile
    return refused('unreadable', cannotOpen(error));
  }
  try {
    const opened = await call<Stats>((done) => fstat(fd, done));
    const notFile = notRegular(opened);
    if (notFile) return refused('not-a-regular-file', notFile);
    const wrongSize = opened.size !== size;
    // One byte more than the module's size, to see a file that grew after fstat.
    const bytes = await readUpTo(fd, wrongSize ? Math.min(MAX_HEADER_BYTES, opened.size) : size + 1);
    if (wrongSize) {
      const reason = `it is ${opened.size} bytes long, not the ${size} bytes of the module file this build made`;
      return { ...refused('wrong-size', reason), head: bytes };
    }
    if (bytes.length !== size) {
      return refused('wrong-size', `its size changed while it was read: it is no longer the ${size} bytes of the module file this build made`);
    }
    return { found: true, bytes };
  } catch (error) {
    return refused('unreadable', `it cannot be read: ${errnoText(error)}`);
  } finally {
    close(fd, () => {});
  }
}

/** Read from the start of `fd` until end of file or `limit` bytes. */
async function readUpTo(fd: number, limit: number): Promise<Uint8Array> {
  const buffer = Buffer.allocUnsafe(limit);
  let total = 0;
  while (total < limit) {
    const n = await call<number>((done) => read(fd, buffer, total, limit - total, total, done));
    if (n === 0) break;
    total += n;
  }
  return buffer.subarray(0, total);
}

/** Why a file with these stats is not read at all, or undefined for a regular file. */
function notRegular(stats: Stats): string | undefined {
  return stats.isFile() ? undefined : `it is ${fileType(stats)}, not a regular file`;
}

function fileType(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'of an unknown type';
}

function cannotOpen(error: unknown): string {
  if ((error as NodeJS.ErrnoException).code === 'ELOOP') return 'it cannot be opened: a loop of symbolic links (ELOOP)';
  return `it cannot be opened: ${errnoText(error)}`;
}

const ERRNO_TEXT: Readonly<Record<string, string>> = {
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENAMETOOLONG: 'File name too long',
  EIO: 'Input/output error',
};

function errnoText(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const text = code ? ERRNO_TEXT[code] : undefined;
  return text ? `${text} (${code})` : (error as Error).message;
}

/** node:fs's callback form: node:fs/promises would cost every start about 3 ms to load. */
function call<T>(start: (done: (error: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value))));
}
