// The OFD-lock addon (native/ofd-lock.c: OFD locks, and the few other system calls Node lacks),
// loaded the first time an image takes a lock or makes a large read. The build places it next to
// the executable and compiles in a copy of its bytes (16 KiB); the loader reads
// the file once through a descriptor, compares it with that copy, and then loads that same open
// file (/proc/self/fd/N), so the bytes it runs are the bytes it checked. A byte comparison is as
// strict as a digest and costs nothing, where node:crypto's first hash costs 2-8 ms of set-up.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where the addon is and its bytes (base64): compiled in by the executable's build (tools/build/ofd-lock-addon.mjs). */
declare const __TESSERA_OFD_LOCK__: { readonly file: string; readonly bytes: string } | undefined;

export interface OfdLocks {
  /** Take a shared lock on one byte of the file (`shared`), or release the lock (`!shared`). */
  lock(fd: number, byte: number, shared: boolean): void;
  /** Whether another open file description holds a lock on the byte. */
  conflicts(fd: number, byte: number): boolean;
  /** lseek(fd, offset, whence) for SEEK_DATA (3) or SEEK_HOLE (4); -1 where there is none at or past offset (ENXIO). */
  seek(fd: number, offset: number, whence: 3 | 4): number;
  /**
   * preadv2(RWF_NOWAIT) of `length` bytes into `into` at `offset`, from file `position`: what the page
   * cache holds, without waiting for the disk. The bytes read (fewer when only a part is cached), or
   * -1 when none is cached; throws with `errno` (EOPNOTSUPP, ENOSYS: not offered here).
   */
  readCached(fd: number, into: Uint8Array, offset: number, length: number, position: number): number;
  /**
   * pwrite each view at its position, one after the other, in a single thread-pool job: each
   * write's errno (0: written whole), in order. Every write is tried, whatever the others gave.
   */
  writeBatch(fd: number, views: readonly Uint8Array[], positions: readonly number[]): Promise<number[]>;
  /** A new raw pseudo-terminal: its master (for reading, and a duplicate for writing), one open descriptor of its slave, and the slave's path (/dev/pts/N). */
  openPty(): { readonly master: number; readonly masterWrite: number; readonly slave: number; readonly path: string };
}

/** Why image locking is unavailable: the addon missing, altered, or not loadable. */
export class LockingUnavailableError extends Error {
  readonly code = 'locking-unavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LockingUnavailableError';
  }
}

let loaded: OfdLocks | undefined;

export function ofdLocks(): OfdLocks {
  return (loaded ??= load());
}

/** The addon if something has loaded it already: for callers for whom loading it (~1 ms) would cost more than it saves. */
export function loadedOfdLocks(): OfdLocks | undefined {
  return loaded;
}

function load(): OfdLocks {
  const addon = typeof __TESSERA_OFD_LOCK__ === 'undefined' ? undefined : __TESSERA_OFD_LOCK__;
  if (!addon) throw new LockingUnavailableError('image locking is not available: this build has no OFD-lock addon');
  const path = addon.file.startsWith('/') ? addon.file : fileURLToPath(new URL(addon.file, import.meta.url));
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new LockingUnavailableError(`image locking is not available: cannot open ${path} (${(error as Error).message}); reinstall tessera`, { cause: error });
  }
  try {
    const bytes = Buffer.alloc(fstatSync(fd).size);
    for (let at = 0; at < bytes.length; ) {
      const got = readSync(fd, bytes, at, bytes.length - at, at);
      if (got === 0) break;
      at += got;
    }
    const expected = Buffer.from(addon.bytes, 'base64');
    if (!bytes.equals(expected)) {
      // Digests only to name the difference in the message (node:crypto is loaded on this path alone).
      const { createHash } = process.getBuiltinModule('node:crypto');
      const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
      throw new LockingUnavailableError(
        `image locking is not available: ${path} is not the file this build made (sha256 ${sha256(bytes)}, expected ${sha256(expected)}); reinstall tessera`,
      );
    }
    const module = { exports: {} as OfdLocks };
    try {
      process.dlopen(module, `/proc/self/fd/${fd}`);
    } catch (error) {
      throw new LockingUnavailableError(`image locking is not available: cannot load ${path}: ${(error as Error).message}`, { cause: error });
    }
    return module.exports;
  } finally {
    closeSync(fd);
  }
}
