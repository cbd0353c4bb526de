/** strerror's text for a Node system error, as QEMU prints it. */
const TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EROFS: 'Read-only file system',
  ECONNREFUSED: 'Connection refused',
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  EAGAIN: 'Resource temporarily unavailable',
  ENOTFOUND: 'Name or service not known',
  EHOSTUNREACH: 'No route to host',
  ETIMEDOUT: 'Connection timed out',
};

export function errnoText(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return (code && TEXT[code]) ?? (error as Error).message;
}
