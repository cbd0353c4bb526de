import { connectWithDeadline } from '@tessera/module-kit/socket/connect-with-deadline';
import { socketErrorWords } from '@tessera/module-kit/socket/socket-error-words';
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
  const seconds = options.connectTimeoutMs / 1000;
  try {
    return await connectWithDeadline({
      address: { host: location.host, port: location.port, noDelay: true },
      deadlineMs: options.connectTimeoutMs,
      // Data-In payloads are read straight into the read's buffer (see Session's receive loop).
      directReads: true,
      closed: () => iscsiError(`the target ${where} closed the connection`, 'iscsi-disconnected'),
      socketFailed: (error, phase) =>
        phase === 'connecting'
          ? iscsiError(`Failed to connect to ${where}: ${socketErrorWords(error)}`, 'iscsi-connect', error)
          : iscsiError(`the connection to ${where} failed: ${socketErrorWords(error)}`, 'iscsi-disconnected', error),
      deadlineMissed: (phase) =>
        phase === 'connecting'
          ? iscsiError(`Failed to connect to ${where}: no answer within ${seconds} s (connect-timeout=${seconds})`, 'iscsi-connect')
          : iscsiError(`the target ${where} did not complete the login within ${seconds} s (connect-timeout=${seconds})`, 'iscsi-timeout'),
      handshake: async (socket, reader) => {
        const link = new Link(socket, reader);
        const parameters = await login(link, {
          initiatorName: options.initiatorName,
          targetName: location.targetName,
          ...(options.user !== undefined ? { user: options.user } : {}),
          ...(options.password !== undefined ? { password: options.password } : {}),
        });
        return new Session(link, parameters, location.lun, location.shown, options.commandTimeoutMs);
      },
    });
  } catch (error) {
    const e = error as Error & { code?: string };
    const code = (error instanceof LoginError ? error.code : (e.code as IscsiErrorCode | undefined)) ?? 'iscsi-protocol';
    throw iscsiError(`Could not open '${location.given}': iSCSI: ${e.message}`, code, error);
  }
}
