import { connect as netConnect, type Socket } from 'node:net';
import { nbdError, type NbdErrorCode } from './errors.ts';
import { negotiate, type Negotiation } from './handshake.ts';
import type { NbdTarget } from './nbd-url.ts';
import { Transmission } from './transmission.ts';
import { WireReader } from './wire-reader.ts';

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
  const socket: Socket =
    target.address.kind === 'tcp' ? netConnect({ host: target.address.host, port: target.address.port, noDelay: true }) : netConnect({ path: target.address.path });
  let phase: 'connecting' | 'negotiating' | 'transmission' = 'connecting';
  let ended: Error | undefined;
  // Before the export is open, the open's error names the URL; after, each message does itself.
  const named = (why: string) => (phase === 'transmission' ? `${shownUrl}: ${why}` : why);
  const reader = new WireReader(socket, () => ended ?? nbdError(named(`the server ${where} closed the connection`), 'nbd-disconnected'));
  socket.on('error', (error: NodeJS.ErrnoException) => {
    ended ??=
      phase === 'connecting'
        ? nbdError(`Failed to connect to ${where}: ${describeSocketError(error)}`, 'nbd-connect', error)
        : nbdError(named(`the connection to ${where} failed: ${describeSocketError(error)}`), 'nbd-disconnected', error);
    reader.fail(ended);
  });
  socket.once('connect', () => (phase = 'negotiating'));
  const timer = setTimeout(() => {
    ended ??=
      phase === 'connecting'
        ? nbdError(`Failed to connect to ${where}: no answer within ${connectTimeoutMs / 1000} s (connect-timeout=${connectTimeoutMs / 1000})`, 'nbd-connect')
        : nbdError(`the server ${where} did not complete the NBD handshake within ${connectTimeoutMs / 1000} s (connect-timeout=${connectTimeoutMs / 1000})`, 'nbd-timeout');
    reader.fail(ended);
    socket.destroy();
  }, connectTimeoutMs);
  try {
    const { info, channel } = await negotiate({ socket, reader }, target.exportName, (why, code) => fail(why, code), negotiation);
    phase = 'transmission';
    return new Transmission(channel.socket, channel.reader, info, shownUrl, requestTimeoutMs);
  } catch (error) {
    socket.destroy();
    const code = (error as { code?: string }).code;
    // Errors from the reader (closed, refused, deadline) carry no URL yet.
    if (!(error as Error).message.startsWith('Could not open')) fail((error as Error).message, (code as NbdErrorCode) ?? 'nbd-protocol', error);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function describeSocketError(error: NodeJS.ErrnoException): string {
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
      return `address resolution failed for ${(error as { hostname?: string }).hostname ?? 'the host'}`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'No route to host';
    default:
      return error.message;
  }
}
