// Image locking as QEMU's file driver does it (block/file-posix.c), so that tessera and QEMU
// exclude each other: for each permission an opener uses, a shared OFD lock on byte 100+bit; for
// each permission it does not share, one on byte 200+bit. A conflict is another open file
// description's lock on the opposite byte, found by F_OFD_GETLK. The locks go with the descriptor.
import type { BlockPermission, BlockPermissions } from '@tessera/core';
import { ofdLocks } from './native-lock.ts';

/** QEMU's permission bits (BLK_PERM_*), which fix the bytes locked. */
const BITS: Readonly<Record<BlockPermission, number>> = { 'consistent read': 0, write: 1, 'write unchanged': 2, resize: 3 };
const NAMES = Object.keys(BITS) as BlockPermission[];
const USE_BASE = 100;
const EAGAIN = 11;
const UNSHARE_BASE = 200;

/** Another process (or another open of the file in this one) holds the image in a conflicting way. */
export class ImageLockedError extends Error {
  readonly code = 'image-locked';
  constructor(message: string) {
    super(message);
    this.name = 'ImageLockedError';
  }
}

const bytesOf = ({ use, unshare }: BlockPermissions): Set<number> =>
  new Set([...use.map((p) => USE_BASE + BITS[p]), ...unshare.map((p) => UNSHARE_BASE + BITS[p])]);

/** The lock bytes one open file holds, changed as its users' permissions change. */
export class ImageLocks {
  private held = new Set<number>();

  constructor(
    private readonly fd: number,
    private readonly filename: string,
  ) {}

  /**
   * Hold the locks for `permissions`, or throw (holding what was held before) when another opener
   * conflicts. As QEMU: lock the new bytes first, then look for conflicts, so two openers racing
   * see each other.
   */
  set(permissions: BlockPermissions): void {
    const wanted = bytesOf(permissions);
    if (wanted.size === 0 && this.held.size === 0) return; // no lock, no addon load (`info` of a raw image)
    const locks = ofdLocks();
    const added: number[] = [];
    try {
      for (const byte of wanted) {
        if (this.held.has(byte)) continue;
        try {
          locks.lock(this.fd, byte, true);
        } catch (error) {
          // Another program's write lock on the byte (QEMU takes none): qemu's message.
          if ((error as { errno?: number }).errno === EAGAIN) throw new ImageLockedError(`Failed to lock byte ${byte}`);
          throw error;
        }
        added.push(byte);
      }
      for (const p of NAMES) {
        if (permissions.use.includes(p) && locks.conflicts(this.fd, UNSHARE_BASE + BITS[p])) throw this.conflict(`"${p}"`);
      }
      for (const p of NAMES) {
        if (permissions.unshare.includes(p) && locks.conflicts(this.fd, USE_BASE + BITS[p])) throw this.conflict(`shared "${p}"`);
      }
    } catch (error) {
      for (const byte of added) locks.lock(this.fd, byte, false);
      throw error;
    }
    for (const byte of this.held) if (!wanted.has(byte)) locks.lock(this.fd, byte, false);
    this.held = wanted;
  }

  private conflict(what: string): ImageLockedError {
    // qemu's message and its hint line, which qemu-img prints on the line below.
    return new ImageLockedError(`Failed to get ${what} lock\nIs another process using the image [${this.filename}]?`);
  }
}
