// tessera-img against OpenSSH's sshd on loopback (started here, with its own host key and an
// ssh-agent of the test's own): the same info, map and bytes as qemu-img on the same URLs,
// writes qemu-img compare and check accept, and every failure a one-line error naming the URL,
// bounded in time, refused before any request where the host key is wrong or unknown.
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable, run, type Configuration } from '../../../../tools/test-support/executables.ts';
import { freePort, startAgent, startSshd, type Sshd } from './helpers/sshd.ts';
import { qemuImg as runQemuImg } from '../../../../tools/test-support/qemu-img.ts';

const MiB = 1024 * 1024;
let dir: string;
let home: string;
let sshd: Sshd;
let agent: { socket: string; stop(): void };
let userKey: string;

/** The URL of a file in the test directory, pinned to the server's key as qemu needs it here. */
const pinned = (file: string) => `ssh://${sshd.user}@127.0.0.1:${sshd.port}${join(dir, file)}?host_key_check=sha256:${sshd.sha256}`;
const plain = (file: string) => `ssh://${sshd.user}@127.0.0.1:${sshd.port}${join(dir, file)}`;

/** qemu-img with the test's ssh-agent. */
const qemuImg = (args: string[]) => runQemuImg(args, { ...process.env, SSH_AUTH_SOCK: agent.socket });

/** Write `lines` as the test user's known_hosts ($HOME is the test's own). */
function knownHosts(...lines: string[]): void {
  writeFileSync(join(home, '.ssh', 'known_hosts'), lines.map((l) => `${l}\n`).join(''));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-ssh-'));
  home = join(dir, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  userKey = join(dir, 'user-key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', userKey]);
  sshd = await startSshd(dir, `${userKey}.pub`);
  agent = startAgent(dir, userKey);
  const raw = join(dir, 'fragmented.raw');
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', raw, '6M']);
  // Data and zero runs interleaved, some not sector aligned.
  const writes = [
    ['0x11', 0, 64 * 1024],
    ['0x22', 300 * 1024, 1000 * 512],
    ['0x33', 3 * MiB + 512, 5 * 512],
    ['0x55', 6 * MiB - 4096, 4096],
  ] as const;
  execFileSync('qemu-io', ['-f', 'raw', ...writes.flatMap(([p, at, n]) => ['-c', `write -P ${p} ${at} ${n}`]), raw], { stdio: 'ignore' });
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, join(dir, 'fragmented.qcow2')]);
}, 30_000);

afterAll(async () => {
  await sshd?.stop();
  agent?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(configurations)('ssh images (%s)', (configuration: Configuration) => {
  const tool = (args: string[], env: Record<string, string | undefined> = {}) =>
    run(executable('img-tool', configuration), args, { cwd: dir, timeoutMs: 30_000, env: { HOME: home, SSH_AUTH_SOCK: agent.socket, ...env } });

  it.each(configuration === 'modular' ? ['fragmented.raw', 'fragmented.qcow2'] : ['fragmented.qcow2'])(
    '%s: info, info --output=json and map --output=json are qemu-img\'s; compare and convert -O raw give the image',
    async (file) => {
      const url = pinned(file);
      // (qcow2 over ssh: qemu-img's json has the qcow2 dirty flag and format-specific data; raw over ssh has no dirty flag.)
      for (const args of [['info'], ['info', '--output=json'], ['map', '--output=json']]) {
        const ours = await tool([...args, url]);
        expect(ours.stderr).toBe('');
        expect(ours.stdout).toBe(qemuImg([...args, url]).stdout);
      }
      if (configuration === 'modular') {
        // Named by qemu's options alone, no URL (`driver=<format>,file.driver=ssh,file.server.host=…`).
        const options = `driver=${file.endsWith('.raw') ? 'raw' : 'qcow2'},file.driver=ssh,file.server.host=127.0.0.1,file.server.port=${sshd.port},file.user=${sshd.user},file.path=${join(dir, file)},file.host-key-check.mode=hash,file.host-key-check.type=sha256,file.host-key-check.hash=${sshd.sha256}`;
        const theirs = qemuImg(['info', '--output=json', '--image-opts', options]);
        expect([theirs.code, theirs.stderr]).toEqual([0, '']);
        const ours = await tool(['info', '--output=json', '--image-opts', options]);
        expect([ours.code, ours.stderr, ours.stdout]).toEqual([0, '', theirs.stdout]);
      }
      const same = await tool(['compare', url, 'fragmented.raw']);
      expect([same.code, same.stdout]).toEqual([0, 'Images are identical.\n']);
      const out = join(dir, `out-${configuration}.raw`);
      const converted = await tool(['convert', '-O', 'raw', url, out]);
      expect([converted.code, converted.stderr]).toEqual([0, '']);
      expect(readFileSync(out).equals(readFileSync(join(dir, 'fragmented.raw')))).toBe(true);
      rmSync(out);
    },
  );

  it('convert -n into an ssh image, create and convert -O qcow2 onto ssh: qemu-img compare and check accept them', async () => {
    const target = join(dir, `target-${configuration}.raw`);
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', target, '6M']);
    execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x99 0 6M', target], { stdio: 'ignore' }); // old bytes to overwrite
    const converted = await tool(['convert', '-n', '-O', 'raw', 'fragmented.raw', pinned(`target-${configuration}.raw`)]);
    expect([converted.code, converted.stderr]).toEqual([0, '']);
    expect(qemuImg(['compare', '-f', 'raw', '-F', 'raw', join(dir, 'fragmented.raw'), pinned(`target-${configuration}.raw`)]).stdout).toBe('Images are identical.\n');
    expect(readFileSync(target).equals(readFileSync(join(dir, 'fragmented.raw')))).toBe(true);
    // Created over SFTP (the file did not exist), then a qcow2 image written into it.
    const qcow2 = `new-${configuration}.qcow2`;
    const made = await tool(['convert', '-O', 'qcow2', 'fragmented.raw', pinned(qcow2)]);
    expect([made.code, made.stderr]).toEqual([0, '']);
    expect(qemuImg(['check', '-f', 'qcow2', pinned(qcow2)]).code).toBe(0);
    expect(qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', join(dir, 'fragmented.raw'), pinned(qcow2)]).stdout).toBe('Images are identical.\n');
    const created = await tool(['create', '-f', 'raw', pinned(`created-${configuration}.raw`), '3M']);
    expect(created.code).toBe(0);
    expect(statSync(join(dir, `created-${configuration}.raw`)).size).toBe(3 * MiB);
    // resize grows a remote file; shrinking is refused in qemu-img's words, as its ssh driver does.
    const grown = await tool(['resize', '-f', 'raw', pinned(`created-${configuration}.raw`), '5M']);
    expect([grown.code, statSync(join(dir, `created-${configuration}.raw`)).size]).toEqual([0, 5 * MiB]);
    const shrink = ['resize', '-f', 'raw', '--shrink', pinned(`created-${configuration}.raw`), '1M'];
    const shrunk = await tool(shrink);
    expect([shrunk.code, shrunk.stderr]).toEqual([1, qemuImg(shrink).stderr.replace(/^qemu-img:/, 'tessera-img:')]);
    expect(statSync(join(dir, `created-${configuration}.raw`)).size).toBe(5 * MiB);
  });
});

describe('ssh host keys, authentication and failures (modular)', () => {
  const tool = (args: string[], env: Record<string, string | undefined> = {}) =>
    run(executable('img-tool', 'modular'), args, { cwd: dir, timeoutMs: 30_000, env: { HOME: home, SSH_AUTH_SOCK: agent.socket, ...env } });
  const timed = async (args: string[], env: Record<string, string | undefined> = {}) => {
    const started = Date.now();
    const result = await tool(args, env);
    return { ...result, seconds: (Date.now() - started) / 1000 };
  };
  const hostKeyLine = () => sshd.knownHostsLine;

  it("known_hosts: a plain [host]:port entry, a hashed one, and the server's other key type alone are accepted; with no entry the host is refused, naming it and what to do", async () => {
    knownHosts(hostKeyLine());
    expect((await tool(['info', plain('fragmented.raw')])).code).toBe(0);
    const salt = randomBytes(20);
    const hashed = createHmac('sha1', salt).update(`[127.0.0.1]:${sshd.port}`).digest('base64');
    knownHosts(`|1|${salt.toString('base64')}|${hashed} ${hostKeyLine().split(' ').slice(1).join(' ')}`);
    expect((await tool(['info', plain('fragmented.raw')])).code).toBe(0);
    // Only the server's second (ECDSA) key is known: it is the one asked for, as OpenSSH's ssh does.
    knownHosts(sshd.ecdsaKnownHostsLine);
    expect((await tool(['info', plain('fragmented.raw')])).stderr).toBe('');
    knownHosts(`other.example ${hostKeyLine().split(' ').slice(1).join(' ')}`);
    const unknown = await timed(['info', plain('fragmented.raw')]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      new RegExp(`^tessera-img: Could not open '${escape(plain('fragmented.raw'))}': no host key was found in known_hosts: \\[127\\.0\\.0\\.1\\]:${sshd.port} offers ssh-ed25519 key SHA256:\\S+, unknown to ${escape(join(home, '.ssh', 'known_hosts'))}; .*host_key_check=sha256:${sshd.sha256}\\n$`),
    );
    expect(unknown.seconds).toBeLessThan(10);
  });

  it('a changed host key (known_hosts) and a wrong pinned fingerprint are refused with qemu-img\'s words', async () => {
    const other = join(dir, 'other-host-key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    knownHosts(`[127.0.0.1]:${sshd.port} ${readFileSync(`${other}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}`);
    const changed = await tool(['info', plain('fragmented.raw')]);
    expect(changed.code).toBe(1);
    expect(changed.stderr).toMatch(new RegExp(`^tessera-img: Could not open '${escape(plain('fragmented.raw'))}': host key does not match the one in known_hosts: .*ssh-keygen -R '\\[127\\.0\\.0\\.1\\]:${sshd.port}'.*\\n$`));
    const wrong = pinned('fragmented.raw').replace(`sha256:${sshd.sha256}`, `sha256:${'00'.repeat(32)}`);
    const ours = await tool(['info', wrong]);
    expect(ours.code).toBe(1);
    expect(ours.stderr).toBe(qemuImg(['info', wrong]).stderr.replace(/^qemu-img:/, 'tessera-img:'));
  });

  it('authentication refused (an agent without the key; no agent at all), as qemu-img words it', async () => {
    const emptyAgent = startAgent(join(dir, 'home'), join(dir, 'other-host-key'));
    try {
      const url = pinned('fragmented.raw');
      const refused = await timed(['info', url], { SSH_AUTH_SOCK: emptyAgent.socket });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe(
        `tessera-img: Could not open '${url}': failed to authenticate using publickey authentication and the identities held by your ssh-agent (user '${sshd.user}'; add the key to the agent with ssh-add, or give key-file=)\n`,
      );
      const none = await tool(['info', url], { SSH_AUTH_SOCK: undefined });
      expect(none.stderr).toMatch(/failed to authenticate using publickey authentication and ssh-agent, but SSH_AUTH_SOCK is not set/);
      // The key-file option (Tessera's; qemu has only the agent) authenticates without one.
      const options = `driver=raw,file.driver=ssh,file.filename=${url},file.key-file=${userKey}`;
      const withKey = await tool(['info', '--image-opts', options], { SSH_AUTH_SOCK: undefined });
      expect([withKey.code, withKey.stderr]).toEqual([0, '']);
    } finally {
      emptyAgent.stop();
    }
  });

  it('a refused connection and a missing remote file', async () => {
    const port = await freePort();
    const url = `ssh://127.0.0.1:${port}/x.raw?host_key_check=no`;
    const refused = await timed(['info', url]);
    expect([refused.code, refused.stderr]).toEqual([1, `tessera-img: Could not open '${url}': Failed to connect to '127.0.0.1:${port}': Connection refused\n`]);
    const missing = await tool(['info', pinned('nope.raw')]);
    expect([missing.code, missing.stderr]).toEqual([1, `tessera-img: Could not open '${pinned('nope.raw')}': failed to open remote file '${join(dir, 'nope.raw')}': No such file\n`]);
  });

  it('a server that accepts and never speaks SSH: the connect deadline ends it', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const url = `ssh://127.0.0.1:${port}/x.raw`;
      const options = `driver=raw,file.driver=ssh,file.filename=${url},file.connect-timeout=1`;
      const result = await timed(['info', '--image-opts', options]);
      expect([result.code, result.stderr]).toEqual([
        1,
        `tessera-img: Could not open '${options}': Could not open '${url}': Failed to connect to '127.0.0.1:${port}': no complete answer (connect, key exchange, authentication) within 1 s (connect-timeout=1)\n`,
      ]);
      expect(result.seconds).toBeLessThan(5);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('sshd hung mid-transfer (its sessions stopped): the request deadline ends convert in one line naming the URL', async () => {
    const out = join(dir, 'hung.raw');
    const url = pinned('big.raw');
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', join(dir, 'big.raw'), '512M']);
    const options = `driver=raw,file.driver=ssh,file.filename=${url},file.timeout=1`;
    const converting = timed(['convert', '--image-opts', options, '-O', 'raw', out]);
    const started = Date.now();
    while (!(existsSync(out) && statSync(out).size > 0) && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 20));
    const stopped = killDescendants('SIGSTOP');
    const stoppedAt = Date.now();
    try {
      const result = await converting;
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`^tessera-img: .*${escape(url)}: the server '127\\.0\\.0\\.1:${sshd.port}' did not answer within 1 s \\(timeout=1\\)\\n$`));
      expect((Date.now() - stoppedAt) / 1000).toBeLessThan(5);
    } finally {
      for (const pid of stopped) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    }
  });

  it('sshd killed mid-transfer: convert fails at once in one line naming the URL', async () => {
    const big = join(dir, 'big.raw');
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', big, '512M']);
    const out = join(dir, 'killed.raw');
    const url = pinned('big.raw');
    const converting = timed(['convert', '-O', 'raw', url, out]);
    // Once bytes arrive, kill sshd and the session processes it forked.
    const started = Date.now();
    while (!(existsSync(out) && statSync(out).size > 0) && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 20));
    const stoppedAt = Date.now();
    killDescendants();
    const result = await converting;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^tessera-img: .*${escape(url)}: (the server '127\\.0\\.0\\.1:${sshd.port}' closed the connection|the connection to '127\\.0\\.0\\.1:${sshd.port}' failed: (Broken pipe|Connection reset by peer))\\n$`));
    expect((Date.now() - stoppedAt) / 1000).toBeLessThan(5);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Signal every sshd session process (the listener's children and theirs): SIGKILL as a crash, SIGSTOP as a hang. */
function killDescendants(signal: NodeJS.Signals = 'SIGKILL'): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {} // gone meanwhile
  }
  const root = sshd.pid;
  const doomed: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of parents) if (parent === pid) (doomed.push(child), walk(child));
  };
  walk(root);
  for (const pid of doomed) {
    try {
      process.kill(pid, signal);
    } catch {}
  }
  return doomed;
}
