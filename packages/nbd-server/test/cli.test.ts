// tessera-nbd's command line against qemu-nbd's: the same refusals in the same words (qemu-nbd
// run with the same arguments is the oracle), --fork with --pid-file, the end of a non-persistent
// server with its last client, and lazy loading: serving a raw image opens no module file.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable, modulesDir } from '../../../tools/test-support/executables.ts';
import { createTestCertificates } from '../../modules/block-http/test/helpers/test-certificates.ts';
import { freePort, startTesseraNbd, tool } from './helpers.ts';

const exe = () => executable('nbd-server', 'modular');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-nbd-cli-'));
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', join(dir, 'x.raw'), '4M']);
  execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x61 0 64k', join(dir, 'x.raw')], { stdio: 'ignore' });
  mkdirSync(join(dir, 'a-directory'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tessera-nbd command line', () => {
  it("refuses bad command lines with qemu-nbd's messages and exit code", async () => {
    const raw = join(dir, 'x.raw');
    const cases: string[][] = [
      [],
      ['--bogus', raw],
      ['-x'],
      [raw, raw],
      ['--cache=bogus', raw],
      ['--aio=x', raw],
      ['--discard=x', raw],
      ['--detect-zeroes=x', raw],
      ['--detect-zeroes=unmap', raw],
      ['-e', 'abc', raw],
      ['-k', 'relative.sock', raw],
      ['-k', join(dir, 'a-directory'), '-f', 'raw', raw],
      [join(dir, 'missing.raw')],
      ['--tls-creds', 'tls0', raw],
      ['--object', 'foo', raw],
      ['-x', 'n'.repeat(4097), raw],
    ];
    const runs = await Promise.all(
      cases.map(async (args) => ({ args, ours: await tool(process.execPath, [exe(), ...args]), theirs: await tool('qemu-nbd', args, 5_000) })),
    );
    for (const { args, ours, theirs } of runs) {
      expect(ours.stderr, args.join(' ')).toBe(theirs.stderr.replaceAll('qemu-nbd', 'tessera-nbd'));
      expect(ours.code, args.join(' ')).toBe(1);
      expect(theirs.code, args.join(' ')).toBe(1);
    }
  }, 60_000);

  it('--fork returns once the server listens, its pid in --pid-file; SIGTERM ends it and removes both', async () => {
    const socket = join(dir, 'fork.sock');
    const pidFile = join(dir, 'nbd.pid');
    const started = await tool(process.execPath, [exe(), '--fork', '--pid-file', pidFile, '-t', '-f', 'raw', '-x', 'disk', '-k', socket, join(dir, 'x.raw')], 20_000);
    expect(started).toEqual({ code: 0, stdout: '', stderr: '' });
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    expect(pid).toBeGreaterThan(0);
    const read = await tool('qemu-io', ['-r', '-f', 'raw', '-c', 'read -P 0x61 0 64k', `nbd+unix:///disk?socket=${socket}`]);
    expect(read.code, read.stderr).toBe(0);
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(pidFile)).toBe(false);
    expect(existsSync(socket)).toBe(false);
  }, 30_000);

  it('without -t ends, exit 0, when its last client leaves', async () => {
    const socket = join(dir, 'once.sock');
    const server = await startTesseraNbd('modular', ['-r', '-f', 'raw', '-k', socket, join(dir, 'x.raw')], socket);
    // startServer's readiness probe connected and left: that was its one client.
    const code = await new Promise<number | null>((resolve) => server.process.once('exit', resolve));
    expect(code).toBe(0);
  }, 30_000);

  it('serving x.raw opens no module file (lazy loading, strace)', async () => {
    const socket = join(dir, 'lazy.sock');
    const trace = join(dir, 'trace.txt');
    const server = await startTesseraNbd('modular', ['-t', '-f', 'raw', '-k', socket, join(dir, 'x.raw')], socket);
    await server.stop();
    // The same under strace, with a client that reads and block-statuses the export.
    const traced = tool('strace', ['-f', '-qq', '-e', 'trace=open,openat', '-o', trace, process.execPath, exe(), '-f', 'raw', '-k', socket, join(dir, 'x.raw')], 30_000);
    for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
    const map = await tool('nbdinfo', ['--map', `nbd+unix:///?socket=${socket}`]);
    expect(map.stdout).toMatch(/^\s+0\s+65536\s+0\s+data/);
    expect((await traced).code).toBe(0);
    const opened = readFileSync(trace, 'utf8');
    expect(opened).toContain('x.raw');
    expect(opened).not.toContain(modulesDir);
    expect(opened).not.toMatch(/block-[a-z0-9]+\.cjs/);
  }, 60_000);

  it('with --tls-creds serves only over TLS: qemu-img and nbdinfo with the CA read it, a plain client is refused', async () => {
    const certificates = createTestCertificates();
    const server = join(dir, 'tls-server');
    const client = join(dir, 'tls-client');
    mkdirSync(server);
    mkdirSync(client);
    writeFileSync(join(server, 'server-key.pem'), certificates.serverKey);
    writeFileSync(join(server, 'server-cert.pem'), certificates.serverCert);
    copyFileSync(certificates.caFile, join(client, 'ca-cert.pem'));
    const port = await freePort();
    const running = await startTesseraNbd(
      'modular',
      ['--object', `tls-creds-x509,id=tls0,dir=${server},endpoint=server,verify-peer=off`, '--tls-creds', 'tls0', '-r', '-t', '-f', 'raw', '-x', 'disk', '-b', '127.0.0.1', '-p', String(port), join(dir, 'x.raw')],
      port,
    );
    try {
      const secure = await tool('qemu-io', ['-r',
        '--object', `tls-creds-x509,id=tls0,dir=${client},endpoint=client`,
        '--image-opts', `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${port},export=disk,tls-creds=tls0`,
        '-c', 'read -P 0x61 0 64k',
      ]);
      expect(secure.code, secure.stderr).toBe(0);
      const nbdinfo = await tool('nbdinfo', [`nbds://127.0.0.1:${port}/disk?tls-certificates=${client}`]);
      expect(nbdinfo.stdout).toContain('newstyle-fixed with TLS');
      const plain = await tool('qemu-img', ['info', `nbd://127.0.0.1:${port}/disk`]);
      expect(plain.code).toBe(1);
      expect(plain.stderr).toContain('server reported: Option not permitted before TLS');
    } finally {
      await running.stop();
      rmSync(certificates.dir, { recursive: true, force: true });
    }
  }, 30_000);
});
