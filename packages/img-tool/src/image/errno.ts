/** The C library's text for an operating-system error, as qemu-img prints it after a colon. */
const MESSAGES: Readonly<Record<string, string>> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EEXIST: 'File exists',
  ENOSPC: 'No space left on device',
  EDQUOT: 'Disk quota exceeded',
  EFBIG: 'File too large',
  EINVAL: 'Invalid argument',
  EROFS: 'Read-only file system',
  EIO: 'Input/output error',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EMFILE: 'Too many open files',
  EBUSY: 'Device or resource busy',
  ETXTBSY: 'Text file busy',
  ENXIO: 'No such device or address',
  ENOTBLK: 'Block device required',
};

/** The errno code of an error or of the error it wraps. */
export function errnoCode(error: unknown): string | undefined {
  for (let current = error; current instanceof Error; current = current.cause) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
  }
  return undefined;
}

export function describeErrno(code: string): string | undefined {
  return MESSAGES[code];
}
