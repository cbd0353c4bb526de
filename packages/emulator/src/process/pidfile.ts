// -pidfile FILE with QEMU's semantics: the file holds the pid while the process runs, is locked so
// that a second QEMU or tessera given the same file refuses to start, and is removed at exit.
import { closeSync, constants, fstatSync, ftruncateSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { ofdLocks } from '@tessera/block-file/native-lock';
import { errnoText } from '../serial/errno-text.ts';

export class PidfileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`cannot create PID file: ${message}`, options);
    this.name = 'PidfileError';
  }
}

export interface Pidfile {
  /** Remove the file and drop the lock (at exit). */
  remove(): void;
}

/**
 * Write our pid into `path`, locked. QEMU takes lockf() (a POSIX write lock from byte 0 on); this
 * takes an OFD read lock on byte 0 through the image-locking addon, which conflicts with it both
 * ways, and then checks that no one else holds one (a second tessera). A file replaced between
 * open and lock (its holder exited and removed it) is opened again, as QEMU does.
 */
export function writePidfile(path: string): Pidfile {
  const absolute = resolve(path); // -daemonize changes directory after start-up
  for (;;) {
    let fd: number;
    try {
      // Not truncated before it is ours: a running holder's pid must stay readable.
      fd = openSync(absolute, constants.O_RDWR | constants.O_CREAT, 0o600);
    } catch (error) {
      throw new PidfileError(`Could not create '${path}': ${errnoText(error)}`, { cause: error });
    }
    try {
      const locks = ofdLocks();
      try {
        locks.lock(fd, 0, true);
      } catch (error) {
        throw new PidfileError(`Cannot lock pid file: ${errnoText(error)}`, { cause: error });
      }
      if (locks.conflicts(fd, 0)) throw new PidfileError(`Cannot lock pid file: ${errnoText({ code: 'EAGAIN' })}`);
      let current: number | undefined;
      try {
        current = statSync(absolute).ino;
      } catch {
        current = undefined;
      }
      if (current !== fstatSync(fd).ino) {
        closeSync(fd); // replaced or removed meanwhile: start over
        continue;
      }
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`, 0);
    } catch (error) {
      closeSync(fd);
      if (error instanceof PidfileError) throw error;
      throw new PidfileError((error as Error).message, { cause: error });
    }
    return {
      remove() {
        try {
          unlinkSync(absolute);
        } catch {
          // already gone
        }
        closeSync(fd);
      },
    };
  }
}
