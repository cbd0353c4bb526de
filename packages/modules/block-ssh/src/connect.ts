import { readFileSync } from 'node:fs';
import { socketErrorWords } from '@tessera/module-kit/socket/socket-error-words';
import { Client, type SFTPWrapper } from 'ssh2';
import { sshError, type SshErrorCode } from './errors.ts';
import { hostKeyRefusal, preferredHostKeyAlgorithms } from './host-key.ts';
import type { SshTarget } from './ssh-options.ts';

export interface SshSession {
  readonly client: Client;
  readonly sftp: SFTPWrapper;
  /** Why the connection ended, once it has (requests in flight fail with it). */
  ended(): Error | undefined;
}

/**
 * Connect, check the host key (before authenticating or sending any request), authenticate
 * (ssh-agent as qemu, or the key-file option), and start SFTP, all within the connect deadline.
 * Errors read `Could not open '<url>': <why>` (qemu-img's words where it has them).
 */
export async function openSession(target: SshTarget): Promise<SshSession> {
  const where = `'${target.host}:${target.port}'`;
  const fail = (why: string, code: SshErrorCode, cause?: unknown) => sshError(`Could not open '${target.shown}': ${why}`, code, cause);
  let privateKey: Buffer | undefined;
  if (target.keyFile !== undefined) {
    try {
      privateKey = readFileSync(target.keyFile);
    } catch (error) {
      throw fail(`cannot read key-file '${target.keyFile}': ${(error as Error).message}`, 'invalid-option', error);
    }
  }
  const agent = process.env.SSH_AUTH_SOCK || undefined;
  const hostKeyAlgorithms = preferredHostKeyAlgorithms(target.hostKeyCheck, target.host, target.port);
  const client = new Client();
  let refusal: string | undefined;
  let ended: Error | undefined;
  let ready = false;
  return await new Promise<SshSession>((resolve, reject) => {
    const timer = setTimeout(() => {
      const why = ready ? 'the SFTP subsystem did not start' : 'no complete answer (connect, key exchange, authentication)';
      reject(fail(`Failed to connect to ${where}: ${why} within ${target.connectTimeoutMs / 1000} s (connect-timeout=${target.connectTimeoutMs / 1000})`, 'ssh-connect'));
      client.destroy();
    }, target.connectTimeoutMs);
    const settle = (error: Error | undefined, session?: SshSession) => {
      clearTimeout(timer);
      if (error) {
        client.destroy();
        reject(error);
      } else resolve(session!);
    };
    client.on('error', (error: Error & { level?: string; code?: string }) => {
      if (ready) {
        ended ??= sshError(`${target.shown}: the connection to ${where} failed: ${socketErrorWords(error)}`, 'ssh-disconnected', error);
        return;
      }
      if (refusal !== undefined) return settle(fail(refusal, 'ssh-host-key', error));
      if (error.level === 'client-authentication') {
        const how = privateKey ? `the key in '${target.keyFile}'` : agent ? 'the identities held by your ssh-agent' : 'ssh-agent, but SSH_AUTH_SOCK is not set';
        return settle(
          fail(
            `failed to authenticate using publickey authentication and ${how} (user '${target.user}'; add the key to the agent with ssh-add, or give key-file=)`,
            'ssh-auth',
            error,
          ),
        );
      }
      if (error.level === 'client-socket' || error.code) return settle(fail(`Failed to connect to ${where}: ${socketErrorWords(error)}`, 'ssh-connect', error));
      settle(fail(`SSH handshake with ${where} failed: ${error.message}`, 'ssh-connect', error));
    });
    client.on('close', () => {
      ended ??= sshError(`${target.shown}: the server ${where} closed the connection`, 'ssh-disconnected');
      if (!ready) settle(fail(`the server ${where} closed the connection during the SSH handshake`, 'ssh-connect'));
    });
    client.on('ready', () => {
      ready = true;
      client.sftp((error, sftp) => {
        if (error) return settle(fail(`the server ${where} refused the SFTP subsystem: ${error.message}`, 'ssh-sftp', error));
        settle(undefined, { client, sftp, ended: () => ended });
      });
    });
    client.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      ...(privateKey ? { privateKey } : { agent }),
      // The deadline above bounds the whole of it; ssh2's own timer would race it with other words.
      readyTimeout: target.connectTimeoutMs + 1000,
      keepaliveInterval: 0,
      ...(hostKeyAlgorithms ? { algorithms: { serverHostKey: hostKeyAlgorithms } } : {}),
      hostVerifier: (key: Buffer) => {
        refusal = hostKeyRefusal(target.hostKeyCheck, target.host, target.port, key);
        return refusal === undefined;
      },
    });
    // Without it each small exchange (authentication, every SFTP request) waits ~40 ms on Nagle
    // and delayed ACKs: an open took 0.5 s instead of 0.15 s.
    client.setNoDelay(true);
  });
}
