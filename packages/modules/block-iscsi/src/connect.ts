import { connect as netConnect, type Socket } from 'node:net';
import { iscsiError, type IscsiErrorCode } from './errors.ts';
import type { IscsiOptions } from './iscsi-options.ts';
import type { IscsiLocation } from './iscsi-url.ts';
import { Link } from './link.ts';
import { login, LoginError } from './login.ts';
import { Session } from './session.ts';

/**
 * Connect to the portal and log in, all within `connectTimeoutMs` (a target that accepts and stays
 * silent fails here, not never). Errors read `Could not open '<url>': <why>`.
 */
export async function openSession(location: IscsiLocation, options: IscsiOptions): Promise<Session> {
  const where = `${location.host.includes(':') ? `[${location.host}]` : location.host}:${location.port}`;
  const socket: Socket = netConnect({ host: location.host, port: location.port, noDelay: true });
  let phase: 'connecting' | 'login' = 'connecting';
  let ended: Error | undefined;
  const link = new Link(socket, () => ended ?? iscsiError(`the target ${where} closed the connection`, 'iscsi-disconnected'));
  socket.on('error', (error: NodeJS.ErrnoException) => {
    ended ??=
      phase === 'connecting'
        ? iscsiError(`Failed to connect to ${where}: ${describeSocketError(error)}`, 'iscsi-connect', error)
        : iscsiError(`the connection to ${where} failed: ${describeSocketError(error)}`, 'iscsi-disconnected', error);
    link.reader.fail(ended);
  });
  socket.once('connect', () => (phase = 'login'));
  const seconds = options.connectTimeoutMs / 1000;
  const timer = setTimeout(() => {
    ended ??=
      phase === 'connecting'
        ? iscsiError(`Failed to connect to ${where}: no answer within ${seconds} s (connect-timeout=${seconds})`, 'iscsi-connect')
        : iscsiError(`the target ${where} did not complete the login within ${seconds} s (connect-timeout=${seconds})`, 'iscsi-timeout');
    link.reader.fail(ended);
    socket.destroy();
  }, options.connectTimeoutMs);
  try {
    const parameters = await login(link, {
      initiatorName: options.initiatorName,
      targetName: location.targetName,
      ...(options.user !== undefined ? { user: options.user } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
    });
    return new Session(link, parameters, location.lun, location.shown, options.commandTimeoutMs);
  } catch (error) {
    socket.destroy();
    const e = error as Error & { code?: string };
    const code = (error instanceof LoginError ? error.code : (e.code as IscsiErrorCode | undefined)) ?? 'iscsi-protocol';
    throw iscsiError(`Could not open '${location.given}': iSCSI: ${e.message}`, code, error);
  } finally {
    clearTimeout(timer);
  }
}

function describeSocketError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'Connection refused';
    case 'ECONNRESET':
      return 'Connection reset by peer';
    case 'EPIPE':
      return 'Broken pipe';
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
