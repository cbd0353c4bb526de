import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';

/** A TCP port on 127.0.0.1 that was free a moment ago (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

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
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const started = Date.now();
  while (!(await accepts(port))) {
    if (gone) throw new Error(`sshd exited: ${stderr}`);
    if (Date.now() - started > 10_000) {
      child.kill('SIGKILL');
      throw new Error(`sshd did not listen in 10 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const [type, base64] = readFileSync(`${hostKey}.pub`, 'utf8').split(' ');
  const hostKeyBlob = Buffer.from(base64!, 'base64');
  return {
    port,
    pid: child.pid!,
    user: userInfo().username,
    hostKeyBlob,
    sha256: createHash('sha256').update(hostKeyBlob).digest('hex'),
    knownHostsLine: `[127.0.0.1]:${port} ${type} ${base64}`,
    ecdsaKnownHostsLine: `[127.0.0.1]:${port} ${readFileSync(`${ecdsaKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}`,
    async stop(abruptly = false) {
      if (!gone) child.kill(abruptly ? 'SIGKILL' : 'SIGTERM');
      await exited;
    },
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
