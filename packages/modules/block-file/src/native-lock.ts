// The OFD-lock addon (native/ofd-lock.c), loaded the first time an image takes a lock. The build
// places it next to the executable and compiles in its sha256; the loader reads the file once
// through a descriptor, checks that digest, and then loads that same open file
// (/proc/self/fd/N), so the bytes it runs are the bytes it checked.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where the addon is and what it must hash to: compiled in by the executable's build (tools/build/vite-app.mjs). */
declare const __TESSERA_OFD_LOCK__: { readonly file: string; readonly sha256: string } | undefined;

export interface OfdLocks {
  /** Take a shared lock on one byte of the file (`shared`), or release the lock (`!shared`). */
  lock(fd: number, byte: number, shared: boolean): void;
  /** Whether another open file description holds a lock on the byte. */
  conflicts(fd: number, byte: number): boolean;
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
    // node:crypto is loaded here, not at startup: only a run that locks an image pays for it.
    const { createHash } = process.getBuiltinModule('node:crypto');
    const digest = createHash('sha256').update(bytes).digest('hex');
    if (digest !== addon.sha256) {
      throw new LockingUnavailableError(`image locking is not available: ${path} is not the file this build made (sha256 ${digest}, expected ${addon.sha256}); reinstall tessera`);
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
