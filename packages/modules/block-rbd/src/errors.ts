import type { BlockErrorCode } from '@tessera/core';

/**
 * Codes of RBD failures a caller can tell apart (beside core's block codes):
 * - `rbd-library-missing`: librbd.so.1 / librados.so.2 (or the FFI addon) cannot be loaded here;
 * - `rbd-connect`: no monitor answered within the deadline, or the cluster refused the session;
 * - `rbd-auth`: cephx refused the user or key;
 * - `rbd-no-pool`, `rbd-no-image`, `rbd-no-snapshot`: the pool, image or snapshot does not exist;
 * - `rbd-io`: librbd failed a request (read, write, flush, resize, snapshot).
 */
export type RbdErrorCode =
  | BlockErrorCode
  | 'rbd-library-missing'
  | 'rbd-connect'
  | 'rbd-auth'
  | 'rbd-no-pool'
  | 'rbd-no-image'
  | 'rbd-no-snapshot'
  | 'rbd-io';

/** A module imports only types from core, so this is a plain Error carrying a `code` (as core's BlockError does). */
export function rbdError(message: string, code: RbdErrorCode, cause?: unknown): Error & { code: RbdErrorCode } {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { name: 'BlockError', code });
}

// librados and librbd return -errno; messages show the C library's text for it, as qemu-img does.
const ERRNO_TEXT: Readonly<Record<number, string>> = {
  1: 'Operation not permitted',
  2: 'No such file or directory',
  5: 'Input/output error',
  11: 'Resource temporarily unavailable',
  12: 'Cannot allocate memory',
  13: 'Permission denied',
  16: 'Device or resource busy',
  17: 'File exists',
  22: 'Invalid argument',
  27: 'File too large',
  28: 'No space left on device',
  30: 'Read-only file system',
  34: 'Numerical result out of range',
  38: 'Function not implemented',
  95: 'Operation not supported',
  107: 'Transport endpoint is not connected',
  108: 'Cannot send after transport endpoint shutdown',
  110: 'Connection timed out',
  111: 'Connection refused',
  122: 'Disk quota exceeded',
};

export function errnoText(negative: number): string {
  return ERRNO_TEXT[-negative] ?? `error ${-negative}`;
}

export const ENOENT = -2;
export const EACCES = -13;
export const EPERM = -1;
export const ETIMEDOUT = -110;
export const ERANGE = -34;
export const EEXIST = -17;
