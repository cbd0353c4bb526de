/** Where a port tells the user about things that happen after open() (peer lost, bad frames). */
export type Report = (message: string) => void;

export const reportOnStderr: Report = (message) => {
  process.stderr.write(`tessera: -netdev socket: ${message}\n`);
};

/** "connection refused (ECONNREFUSED)" from a Node socket error. */
export function describeSocketError(error: NodeJS.ErrnoException): string {
  const text: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset by peer',
    EADDRINUSE: 'address already in use',
    EADDRNOTAVAIL: 'address not available on this host',
    EACCES: 'permission denied',
    ETIMEDOUT: 'timed out',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    EPIPE: 'broken pipe',
  };
  const code = error.code;
  return code && text[code] ? `${text[code]} (${code})` : error.message;
}
