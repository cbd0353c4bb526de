/**
 * A socket error in the words qemu prints for it (strerror's text, or the resolver's failure),
 * instead of Node's `connect ECONNREFUSED 127.0.0.1:10809`: the caller's message already names
 * the address.
 */
export function socketErrorWords(error: Error & { code?: string; hostname?: string }): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'Connection refused';
    case 'ENOENT':
      return 'No such file or directory';
    case 'ECONNRESET':
      return 'Connection reset by peer';
    case 'EPIPE':
      return 'Broken pipe';
    case 'EACCES':
      return 'Permission denied';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `address resolution failed for ${error.hostname ?? 'the host'}`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'No route to host';
    default:
      return error.message;
  }
}
