import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, startServer } from '../../../../../tools/test-support/server-process.ts';

export { freePort };

export interface Sshd {
  readonly port: number;
  /** The listening sshd's process id (its sessions are its children). */
  readonly pid: number;
  readonly user: string;
  /** The host key's public blob, and its sha256 in hex (qemu's host_key_check=sha256:…). */
  readonly hostKeyBlob: Buffer;
  readonly sha256: string;
  /** The `known_hosts` line naming this server (`[127.0.0.1]:port`) with its ed25519 key, and with its ECDSA key. */
  readonly knownHostsLine: string;
  readonly ecdsaKnownHostsLine: string;
  stop(abruptly?: boolean): Promise<void>;
}

/**
 * OpenSSH's sshd in the foreground on a free loopback port with its own host key, accepting the
 * public key `authorizedKey` for the current user; SFTP through internal-sftp. Needs no root
 * (as root, /run/sshd must exist: it is made here).
 */
export async function startSshd(dir: string, authorizedKey: string): Promise<Sshd> {
  const port = await freePort();
  const hostKey = join(dir, `host-key-${port}`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  // A second host key, as most servers have (clients pick by their preference and known_hosts).
  const ecdsaKey = `${hostKey}-ecdsa`;
  execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', ecdsaKey]);
  const authorized = join(dir, `authorized-${port}`);
  writeFileSync(authorized, readFileSync(authorizedKey));
  const config = join(dir, `sshd-${port}.conf`);
  writeFileSync(
    config,
    [
      'ListenAddress 127.0.0.1',
      `Port ${port}`,
      `HostKey ${hostKey}`,
      `HostKey ${ecdsaKey}`,
      `AuthorizedKeysFile ${authorized}`,
      'UsePAM no',
      'PidFile none',
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
  );
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true });
  const server = await startServer('/usr/sbin/sshd', ['-D', '-e', '-f', config], port);
  const [type, base64] = readFileSync(`${hostKey}.pub`, 'utf8').split(' ');
  const hostKeyBlob = Buffer.from(base64!, 'base64');
  return {
    port,
    pid: server.process.pid!,
    user: userInfo().username,
    hostKeyBlob,
    sha256: createHash('sha256').update(hostKeyBlob).digest('hex'),
    knownHostsLine: `[127.0.0.1]:${port} ${type} ${base64}`,
    ecdsaKnownHostsLine: `[127.0.0.1]:${port} ${readFileSync(`${ecdsaKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}`,
    stop: (abruptly = false) => server.stop(abruptly),
  };
}

/** An ssh-agent of the test's own holding `key`; its socket and how to stop it. */
export function startAgent(dir: string, key: string): { socket: string; stop(): void } {
  const socket = join(dir, 'agent.sock');
  const output = execFileSync('ssh-agent', ['-s', '-a', socket], { encoding: 'utf8' });
  const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(output)![1]);
  execFileSync('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: 'ignore' });
  return { socket, stop: () => process.kill(pid, 'SIGTERM') };
}
