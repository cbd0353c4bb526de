import { connectWithDeadline } from '@tessera/module-kit/socket/connect-with-deadline';
import { socketErrorWords } from '@tessera/module-kit/socket/socket-error-words';
import { nbdError, type NbdErrorCode } from './errors.ts';
import { negotiate, type Negotiation } from './handshake.ts';
import type { NbdTarget } from './nbd-url.ts';
import { Transmission } from './transmission.ts';

/**
 * Connect to the server and negotiate, all within `connectTimeoutMs` (a server that accepts and
 * stays silent fails here, not never). Errors read `Could not open '<url>': <why>`. `negotiation`:
 * TLS and the metadata context to ask for (handshake.ts).
 */
export async function openConnection(target: NbdTarget, shownUrl: string, connectTimeoutMs: number, requestTimeoutMs: number, negotiation: Negotiation = {}): Promise<Transmission> {
  const fail = (why: string, code: NbdErrorCode = 'nbd-protocol', cause?: unknown): never => {
    throw nbdError(`Could not open '${shownUrl}': ${why}`, code, cause);
  };
  const where = target.address.kind === 'tcp' ? `'${target.address.host}:${target.address.port}'` : `'${target.address.path}'`;
  const seconds = connectTimeoutMs / 1000;
  try {
    return await connectWithDeadline({
      address: target.address.kind === 'tcp' ? { host: target.address.host, port: target.address.port, noDelay: true } : { path: target.address.path },
      deadlineMs: connectTimeoutMs,
      // Read replies' data straight into the callers' buffers (no 64 KiB chunk allocated and copied per read).
      directReads: true,
      // Before the export is open, the open's error names the URL; after, each message does itself.
      closed: (phase) => nbdError(named(phase, `the server ${where} closed the connection`), 'nbd-disconnected'),
      socketFailed: (error, phase) =>
        phase === 'connecting'
          ? nbdError(`Failed to connect to ${where}: ${socketErrorWords(error)}`, 'nbd-connect', error)
          : // A request written after the server went away fails with EPIPE before the reader sees the end: the same event.
            error.code === 'EPIPE'
            ? nbdError(named(phase, `the server ${where} closed the connection`), 'nbd-disconnected', error)
            : nbdError(named(phase, `the connection to ${where} failed: ${socketErrorWords(error)}`), 'nbd-disconnected', error),
      deadlineMissed: (phase) =>
        phase === 'connecting'
          ? nbdError(`Failed to connect to ${where}: no answer within ${seconds} s (connect-timeout=${seconds})`, 'nbd-connect')
          : nbdError(`the server ${where} did not complete the NBD handshake within ${seconds} s (connect-timeout=${seconds})`, 'nbd-timeout'),
      handshake: async (socket, reader) => {
        const { info, channel } = await negotiate({ socket, reader }, target.exportName, (why, code) => fail(why, code), negotiation);
        return new Transmission(channel.socket, channel.reader, info, shownUrl, requestTimeoutMs);
      },
    });
  } catch (error) {
    const code = (error as { code?: string }).code;
    // Errors from the reader (closed, refused, deadline) carry no URL yet.
    if (!(error as Error).message.startsWith('Could not open')) fail((error as Error).message, (code as NbdErrorCode) ?? 'nbd-protocol', error);
    throw error;
  }

  function named(phase: string, why: string): string {
    return phase === 'open' ? `${shownUrl}: ${why}` : why;
  }
}
