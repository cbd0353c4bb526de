// tessera-nbd against real clients (qemu-img/qemu-io, nbdinfo, nbdcopy, tessera-img's block-nbd),
// with qemu-nbd serving the same qcow2 chain as the oracle: the same block status, allocation
// depth and bytes; writes that leave a qcow2 qemu-img check accepts; qemu's image locks; hostile
// clients answered with errors, never a crash. One server per group, set up once.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable } from '../../../tools/test-support/executables.ts';
import { startServer } from '../../modules/block-nbd/test/helpers/servers.ts';
import { freePort, RawClient, startTesseraNbd, tool, type RunningServer } from './helpers.ts';

const MiB = 1024 * 1024;
const SIZE = 8 * MiB;
let dir: string;
let oracle: RunningServer;
const oracleUrl = () => `nbd+unix:///disk?socket=${join(dir, 'oracle.sock')}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-nbd-server-'));
  // A base with data and zero runs, some not cluster aligned, and an overlay that writes over
  // part of it and zeroes another part: block status and allocation depth have every case.
  const raw = join(dir, 'base.raw');
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', raw, String(SIZE)]);
  const baseWrites = [['0x11', 0, 256 * 1024], ['0x22', 300 * 1024, 1000 * 512], ['0x33', 3 * MiB + 512, 5 * 512], ['0x44', 5 * MiB, 2 * MiB]] as const;
  execFileSync('qemu-io', ['-f', 'raw', ...baseWrites.flatMap(([p, at, n]) => ['-c', `write -P ${p} ${at} ${n}`]), raw], { stdio: 'ignore' });
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, join(dir, 'base.qcow2')]);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', join(dir, 'overlay.qcow2')]);
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x77 128k 192k', '-c', 'write -z 5M 64k', '-c', 'write -P 0x78 7M 4k', join(dir, 'overlay.qcow2')], { stdio: 'ignore' });
  oracle = await startServer('qemu-nbd', ['-f', 'qcow2', '-r', '-t', '-A', '-e', '8', '-x', 'disk', '-k', join(dir, 'oracle.sock'), join(dir, 'overlay.qcow2')], join(dir, 'oracle.sock'));
}, 60_000);

afterAll(async () => {
  await oracle?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(configurations)('tessera-nbd (%s), read-only export of a qcow2 chain over a unix socket', (configuration) => {
  let server: RunningServer;
  const socket = () => join(dir, `ro-${configuration}.sock`);
  const url = () => `nbd+unix:///disk?socket=${socket()}`;

  beforeAll(async () => {
    server = await startTesseraNbd(configuration, ['-f', 'qcow2', '-r', '-t', '-A', '-e', '4', '-x', 'disk', '-D', 'the test chain', '-k', socket(), join(dir, 'overlay.qcow2')], socket());
  }, 30_000);
  afterAll(async () => server?.stop());

  it('reports what qemu-nbd reports: qemu-img map, base:allocation and qemu:allocation-depth', async () => {
    const [ours, theirs] = await Promise.all([url(), oracleUrl()].map((u) => tool('qemu-img', ['map', '--output=json', '-f', 'raw', u])));
    expect(ours!.stderr).toBe('');
    expect(ours!.stdout).toBe(theirs!.stdout);
    for (const context of ['base:allocation', 'qemu:allocation-depth']) {
      const [a, b] = await Promise.all([url(), oracleUrl()].map((u) => tool('nbdinfo', [`--map=${context}`, u])));
      expect(a!.stdout, context).toBe(b!.stdout);
      expect(a!.stdout.split('\n').length, context).toBeGreaterThan(6); // the chain really is fragmented
    }
    const info = await tool('nbdinfo', [url()]);
    expect(info.stdout).toContain('description: the test chain');
    expect(info.stdout).toMatch(/is_read_only: true[\s\S]*can_multi_conn: true/);
  });

  it("serves the chain's bytes to qemu-img, nbdcopy and tessera-img's block-nbd, four clients at once (-e 4)", async () => {
    const copy = join(dir, `copy-${configuration}.raw`);
    const results = await Promise.all([
      tool('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', url(), join(dir, 'overlay.qcow2')]),
      tool('nbdcopy', [url(), copy]),
      tool(process.execPath, [executable('img-tool', configuration), 'compare', '-f', 'raw', '-F', 'qcow2', url(), join(dir, 'overlay.qcow2')]),
      tool('qemu-io', ['-r', '-f', 'raw', '-c', 'read -P 0x77 128k 192k', '-c', 'read -P 0 5M 64k', '-c', 'read -P 0x44 6M 1M', url()]),
    ]);
    for (const result of results) expect(result.stderr + result.stdout).not.toMatch(/fail|error|differ/i);
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    expect(results[0]!.stdout).toContain('Images are identical.');
    expect(results[2]!.stdout).toContain('Images are identical.');
    expect((await tool('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', copy, join(dir, 'overlay.qcow2')])).stdout).toContain('Images are identical.');
  }, 60_000);

  it('refuses writes on a read-only export (-r) with EPERM', async () => {
    const written = await tool('qemu-io', ['-f', 'raw', '-c', 'write 0 512', url()]);
    expect(written.code).not.toBe(0);
    const client = await RawClient.open(socket());
    expect(await client.go('disk')).toBe(1);
    client.request(1, 0, 512, Buffer.alloc(512, 1));
    expect((await client.reply()).errno).toBe(1);
    client.close();
  });

  it('answers hostile requests with errors and drops broken framing, serving on', async () => {
    const client = await RawClient.open(socket());
    expect(await client.go('nope')).toBe(0x80000006); // NBD_REP_ERR_UNKNOWN
    expect(await client.go('disk')).toBe(1);
    client.request(0, 0, 32 * MiB + 1); // read larger than the maximum
    expect((await client.reply()).errno).toBe(22);
    client.request(0, SIZE - 512, 1024); // read past the end
    expect((await client.reply()).errno).toBe(22);
    client.request(0, 2 ** 62, 512); // offset far past the end
    expect((await client.reply()).errno).toBe(22);
    client.request(99, 0, 0); // unknown command
    expect((await client.reply()).errno).toBe(22);
    client.request(0, 128 * 1024, 512);
    expect((await client.reply(512)).data).toEqual(Buffer.alloc(512, 0x77));
    client.request(0, 0, 512, undefined, 0xdeadbeef); // bad request magic: the connection ends
    expect(await client.closesWithin(5000)).toBe(true);

    const badOption = await RawClient.open(socket());
    badOption.option(7, Buffer.alloc(6), 0x1122334455667788n);
    expect(await badOption.closesWithin(5000)).toBe(true);

    const oversized = await RawClient.open(socket());
    expect(await oversized.go('disk')).toBe(1);
    oversized.request(1, 0, 0xffffffff); // a write whose payload cannot be taken
    expect((await oversized.reply()).errno).toBe(22);
    expect(await oversized.closesWithin(5000)).toBe(true);

    // The server is still there for everyone else.
    expect((await tool('nbdinfo', ['--size', url()])).stdout.trim()).toBe(String(SIZE));
  }, 30_000);
});

describe.each(configurations)('tessera-nbd (%s), read-write export over TCP', (configuration) => {
  let server: RunningServer;
  let port: number;
  const image = () => join(dir, `rw-${configuration}.qcow2`);
  const expected = () => join(dir, `expected-${configuration}.qcow2`);
  const url = () => `nbd://127.0.0.1:${port}/disk`;
  const writes = ['write -P 0x5a 1M 192k', 'write -z 3M 1M', 'write -P 0x5b 5M 4k', 'write -z -u 6M 512k', 'write -P 0x5c 8388096 512', 'flush'];

  beforeAll(async () => {
    copyFileSync(join(dir, 'overlay.qcow2'), image());
    copyFileSync(join(dir, 'overlay.qcow2'), expected());
    port = await freePort();
    server = await startTesseraNbd(configuration, ['-f', 'qcow2', '-t', '-x', 'disk', '-b', '127.0.0.1', '-p', String(port), '--discard=unmap', image()], port);
  }, 30_000);
  afterAll(async () => server?.stop());

  it('takes qemu-io writes, zeroes and flushes, and holds the write lock: a second writer is refused', async () => {
    const result = await tool('qemu-io', ['-f', 'raw', ...writes.flatMap((w) => ['-c', w]), '-c', 'discard 2M 64k', url()]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const second = await tool(process.execPath, [executable('nbd-server', configuration), '-f', 'qcow2', '-k', join(dir, `second-${configuration}.sock`), image()]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`tessera-nbd: Failed to blk_new_open '${image()}': Failed to get "write" lock`);
    const qemu = await tool('qemu-io', ['-f', 'qcow2', '-c', 'write 0 512', image()]);
    expect(qemu.stderr).toContain('Failed to get "write" lock');
  });

  it('leaves, once stopped, the qcow2 qemu-io makes of the same writes, which qemu-img check accepts', async () => {
    await server.stop();
    execFileSync('qemu-io', ['-f', 'qcow2', ...writes.flatMap((w) => ['-c', w]), expected()], { stdio: 'ignore' });
    const check = await tool('qemu-img', ['check', image()]);
    expect(check.stdout).toContain('No errors were found on the image.');
    expect(check.code).toBe(0);
    // The discarded range reads as zeroes here (--discard=unmap); qemu-io wrote nothing there.
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -z 2M 64k', expected()], { stdio: 'ignore' });
    expect((await tool('qemu-img', ['compare', image(), expected()])).stdout).toContain('Images are identical.');
  });
});

describe('tessera-nbd paces its reads by what the client takes', () => {
  let server: RunningServer;
  let data: Buffer;
  const socket = () => join(dir, 'paced.sock');

  beforeAll(async () => {
    data = randomBytes(16 * MiB);
    writeFileSync(join(dir, 'paced.raw'), data);
    server = await startTesseraNbd('modular', ['-f', 'raw', '-r', '-t', '-x', 'disk', '-k', socket(), join(dir, 'paced.raw')], socket());
  }, 30_000);
  afterAll(async () => server?.stop());

  /** Bytes the server process has read so far (files and sockets). */
  const bytesRead = () => Number(/rchar: (\d+)/.exec(readFileSync(`/proc/${server.process.pid}/io`, 'utf8'))![1]);

  it('reads under 2 MiB ahead of a client that takes no replies, not all 8 MiB it asked for; then answers every request', async () => {
    const client = await RawClient.open(socket());
    expect(await client.go('disk')).toBe(1);
    client.pause();
    // 64 reads of 128 KiB, none next to another (each read on its own), as many as the server takes at once.
    const offsets = Array.from({ length: 64 }, (_, i) => i * 256 * 1024);
    const before = bytesRead();
    for (const offset of offsets) client.request(0, offset, 128 * 1024);
    let read = 0;
    for (let still = 0, last = -1; still < 4; await new Promise((r) => setTimeout(r, 50))) {
      read = bytesRead() - before;
      still = read === last ? still + 1 : 0;
      last = read;
    }
    // Half a MiB ahead and what the socket took (650-790 KiB in all, measured); unpaced it read all 8 MiB.
    expect(read).toBeGreaterThan(256 * 1024);
    expect(read).toBeLessThan(2 * MiB);
    for (const offset of offsets) {
      const reply = await client.reply(128 * 1024);
      expect(reply.errno).toBe(0);
      expect(reply.data.equals(data.subarray(offset, offset + 128 * 1024))).toBe(true);
    }
    expect(bytesRead() - before).toBeGreaterThanOrEqual(8 * MiB);
    client.close();
  }, 30_000);
});

describe('tessera-nbd -B: a qcow2 persistent dirty bitmap as qemu:dirty-bitmap:NAME, as qemu-nbd offers it', () => {
  const twins = ['ours', 'theirs'] as const;
  const image = (twin: (typeof twins)[number]) => join(dir, `bitmap-${twin}.qcow2`);
  const context = 'qemu:dirty-bitmap:b0';
  const map = (url: string) => tool('nbdinfo', [`--map=${context}`, url]);

  beforeAll(() => {
    // Writes recorded by b0 (64 KiB granules), some not granule aligned; one more bitmap beside it.
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image('ours'), String(SIZE)]);
    execFileSync('qemu-img', ['bitmap', '--add', image('ours'), 'b0']);
    execFileSync('qemu-img', ['bitmap', '--add', '-g', '512k', image('ours'), 'other']);
    const writes = ['write -P 0x11 0 64k', 'write -P 0x12 3M 4k', 'write -P 0x13 7340544 512', 'write -z 6M 200k'];
    execFileSync('qemu-io', ['-f', 'qcow2', ...writes.flatMap((w) => ['-c', w]), image('ours')], { stdio: 'ignore' });
    copyFileSync(image('ours'), image('theirs'));
  });

  it('read-only: the same dirty runs as qemu-nbd; then writes through a writable export are recorded as qemu-nbd records them', async () => {
    const sockets = { ours: join(dir, 'bm-ours.sock'), theirs: join(dir, 'bm-theirs.sock') };
    const urls = { ours: `nbd+unix:///?socket=${sockets.ours}`, theirs: `nbd+unix:///?socket=${sockets.theirs}` };
    for (const readOnly of [true, false]) {
      const args = (twin: (typeof twins)[number]) => ['-f', 'qcow2', ...(readOnly ? ['-r'] : []), '-t', '-B', 'b0', '-k', sockets[twin], image(twin)];
      const ours = await startTesseraNbd('modular', args('ours'), sockets.ours);
      const theirs = await startServer('qemu-nbd', args('theirs'), sockets.theirs);
      try {
        if (!readOnly) {
          // Writes into clean and dirty granules, through each server, after a first query (ours
          // then holds the bits it read: the writes must make it read them again).
          expect((await map(urls.ours)).stdout).toMatch(/^ +0 +65536 +1 +dirty\n +65536 +3080192 +0 +clean\n/);
          for (const twin of twins) {
            const result = await tool('qemu-io', ['-f', 'raw', '-c', 'write -P 0x21 5M 4k', '-c', 'write -z 1M 64k', '-c', 'write -P 0x22 32k 4k', urls[twin]]);
            expect(result.code, result.stderr).toBe(0);
          }
        }
        const [a, b] = await Promise.all([map(urls.ours), map(urls.theirs)]);
        expect(a!.stderr).toBe('');
        expect(a!.stdout).toBe(b!.stdout);
        expect(a!.stdout).toMatch(readOnly ? /^ +0 +65536 +1 +dirty\n/ : /^ +0 +65536 +1 +dirty\n +65536 +983040 +0 +clean\n +1048576 +65536 +1 +dirty\n/);
        const list = JSON.parse((await tool('nbdinfo', ['--list', '--json', urls.ours])).stdout) as { exports: { contexts: string[] }[] };
        expect(list.exports[0]!.contexts).toEqual(['base:allocation', context]);
      } finally {
        await ours.stop();
        await theirs.stop();
      }
    }
    // The bitmap stored by each server on close: the same bits, qemu-img check clean.
    const info = (twin: (typeof twins)[number]) => JSON.parse(execFileSync('qemu-img', ['info', '--output=json', image(twin)], { encoding: 'utf8' }))['format-specific'].data.bitmaps;
    expect(info('ours')).toEqual(info('theirs'));
    expect((await tool('qemu-img', ['check', image('ours')])).code).toBe(0);
  }, 60_000);

  it("refuses a bitmap the image does not have with qemu-nbd's message", async () => {
    const result = await tool(process.execPath, [executable('nbd-server', 'modular'), '-r', '-B', 'nope', '-k', join(dir, 'bm-nope.sock'), image('ours')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("tessera-nbd: Bitmap 'nope' is not found\n");
  });
});
