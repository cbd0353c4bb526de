// tessera-img against real NBD servers on loopback (qemu-nbd and nbdkit, started here): the same
// info, map, compare and bytes as qemu-img on the same URLs, writes that qemu-img compare accepts,
// and every failure a one-line error naming the URL, bounded in time.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable, run, type Configuration } from '../../../../tools/test-support/executables.ts';
import { freePort, startServer, startSilentServer, type RunningServer } from './helpers/servers.ts';
import { qemuImg } from '../../../../tools/test-support/qemu-img.ts';

const MiB = 1024 * 1024;
let dir: string;
let rawPort: number;
const servers: RunningServer[] = [];
/** The fragmented image's URL through each server and spelling. */
const urls: Record<string, string> = {};


beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-nbd-'));
  const raw = join(dir, 'fragmented.raw');
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', raw, '8M']);
  // Data and zero runs interleaved, some not cluster aligned, and a run of written zeroes.
  const writes = [
    ['0x11', 0, 64 * 1024],
    ['0x22', 300 * 1024, 1000 * 512],
    ['0x00', 2 * MiB, MiB],
    ['0x33', 3 * MiB + 512, 5 * 512],
    ['0x44', 5 * MiB, 2 * MiB],
    ['0x55', 8 * MiB - 4096, 4096],
  ] as const;
  execFileSync('qemu-io', ['-f', 'raw', ...writes.flatMap(([p, at, n]) => ['-c', `write -P ${p} ${at} ${n}`]), raw], { stdio: 'ignore' });
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, join(dir, 'fragmented.qcow2')]);
  rawPort = await freePort();
  const qcowSocket = join(dir, 'qcow.sock');
  const fileSocket = join(dir, 'file.sock');
  const qcowAsRawSocket = join(dir, 'qcow-as-raw.sock');
  servers.push(
    // The qcow2 file served as its bytes: the client probes qcow2 over NBD (info shows its dirty flag and format-specific data).
    await startServer('qemu-nbd', ['-f', 'raw', '-r', '-t', '-x', 'disk', '-k', qcowAsRawSocket, join(dir, 'fragmented.qcow2')], qcowAsRawSocket),
    await startServer('qemu-nbd', ['-f', 'raw', '-r', '-t', '-x', 'disk', '-b', '127.0.0.1', '-p', String(rawPort), raw], rawPort),
    await startServer('qemu-nbd', ['-f', 'qcow2', '-r', '-t', '-A', '-x', 'disk', '-k', qcowSocket, join(dir, 'fragmented.qcow2')], qcowSocket),
    await startServer('nbdkit', ['-f', '-r', '-U', fileSocket, 'file', raw], fileSocket),
  );
  urls['qemu-nbd raw, nbd://'] = `nbd://127.0.0.1:${rawPort}/disk`;
  urls['qemu-nbd raw, nbd+tcp://'] = `nbd+tcp://127.0.0.1:${rawPort}/disk`;
  urls['qemu-nbd qcow2 -A, nbd+unix://'] = `nbd+unix:///disk?socket=${qcowSocket}`;
  urls['nbdkit file, nbd+unix://'] = `nbd+unix:///?socket=${fileSocket}`;
  urls['qcow2 file served raw, probed as qcow2'] = `nbd+unix:///disk?socket=${qcowAsRawSocket}`;
  urls['qemu-nbd raw, nbd:host:port'] = `nbd:127.0.0.1:${rawPort}:exportname=disk`;
  urls['qemu-nbd qcow2 -A, nbd:unix:'] = `nbd:unix:${qcowSocket}:exportname=disk`;
}, 60_000);

afterAll(async () => {
  for (const server of servers) await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(configurations)('nbd images (%s)', (configuration: Configuration) => {
  const tool = (args: string[], timeoutMs?: number) => run(executable('img-tool', configuration), args, { cwd: dir, ...(timeoutMs ? { timeoutMs } : {}) });

  // Every server and spelling in the modular build; the static build (the same module linked in) once.
  const servedAs = [
    'qemu-nbd raw, nbd://',
    'qemu-nbd raw, nbd+tcp://',
    'qemu-nbd qcow2 -A, nbd+unix://',
    'nbdkit file, nbd+unix://',
    'qcow2 file served raw, probed as qcow2',
    'qemu-nbd raw, nbd:host:port',
    'qemu-nbd qcow2 -A, nbd:unix:',
  ];
  it.each(configuration === 'modular' ? servedAs : servedAs.slice(2, 3))(
    '%s: info, info --output=json and map --output=json are qemu-img\'s; compare and convert -O raw give the image',
    async (name) => {
      const url = urls[name]!;
      for (const args of [['info'], ['info', '--output=json'], ['map', '--output=json']]) {
        const ours = await tool([...args, url]);
        expect(ours.stderr).toBe('');
        expect(ours.stdout).toBe(qemuImg([...args, url]).stdout);
      }
      const same = await tool(['compare', url, 'fragmented.raw']);
      expect([same.code, same.stdout]).toEqual([0, 'Images are identical.\n']);
      const out = join(dir, `out-${configuration}.raw`);
      const converted = await tool(['convert', '-O', 'raw', url, out]);
      expect(converted.code).toBe(0);
      expect(readFileSync(out).equals(readFileSync(join(dir, 'fragmented.raw')))).toBe(true);
      // Sparse as qemu-img makes it from the same URL: the zero runs are holes in both.
      const theirs = join(dir, `theirs-${configuration}.raw`);
      qemuImg(['convert', '-O', 'raw', url, theirs]);
      expect(qemuImg(['map', '--output=json', '-f', 'raw', out]).stdout).toBe(qemuImg(['map', '--output=json', '-f', 'raw', theirs]).stdout);
      rmSync(out);
      rmSync(theirs);
    },
  );

  // Modular only: the static build links every module in, and block-ssh's SSH library loads
  // node:tls (and https, zlib) as the program starts, whatever it opens.
  it.runIf(configuration === 'modular')('a plain connection does not load node:tls (OpenSSL\'s set-up costs every open 10-15 ms)', async () => {
    // A preload that writes, as the process exits, which of Node's own modules it loaded.
    const preload = join(dir, 'loaded-modules.cjs');
    const list = join(dir, `loaded-${configuration}.json`);
    writeFileSync(preload, "process.on('exit', () => require('node:fs').writeFileSync(process.env.LOADED_LIST, JSON.stringify(process.moduleLoadList)));\n");
    const result = await run(executable('img-tool', configuration), ['info', urls['qemu-nbd raw, nbd://']!], {
      cwd: dir,
      env: { NODE_OPTIONS: `--require ${preload}`, LOADED_LIST: list },
    });
    expect([result.code, result.stderr]).toEqual([0, '']);
    const loaded = JSON.parse(readFileSync(list, 'utf8')) as string[];
    expect(loaded).toContain('NativeModule net');
    expect(loaded.filter((name) => /^NativeModule (tls|_tls_wrap|_tls_common)$/.test(name))).toEqual([]);
  });

  it.runIf(configuration === 'modular')('--image-opts without a filename (server.*, host/port, file.server.*) and json: name the export as qemu-img does; x-dirty-bitmap reads qemu:allocation-depth as qemu-img does', async () => {
    const socket = urls['qcow2 file served raw, probed as qcow2']!.replace(/^.*socket=/, '');
    const spellings = [
      ['--image-opts', `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${rawPort},export=disk`],
      ['--image-opts', `driver=nbd,host=127.0.0.1,port=${rawPort},export=disk`],
      ['--image-opts', `driver=qcow2,file.driver=nbd,file.server.type=unix,file.server.path=${socket},file.export=disk`],
      [`json:{"driver":"raw","file":{"driver":"nbd","server":{"type":"inet","host":"127.0.0.1","port":${rawPort}},"export":"disk"}}`],
    ];
    for (const spelling of spellings) {
      for (const command of [['info', '--output=json'], ['map', '--output=json']]) {
        const theirs = qemuImg([...command, ...spelling]);
        expect([theirs.code, theirs.stderr]).toEqual([0, '']);
        const ours = await tool([...command, ...spelling]);
        expect([ours.code, ours.stderr, ours.stdout]).toEqual([0, '', theirs.stdout]);
      }
    }
    // qemu's x-dirty-bitmap: block status reads another metadata context (here qemu-nbd -A's allocation depth) as base:allocation.
    const depthSocket = urls['qemu-nbd qcow2 -A, nbd+unix://']!.replace(/^.*socket=/, '');
    const depth = ['map', '--output=json', '--image-opts', `driver=nbd,server.type=unix,server.path=${depthSocket},export=disk,x-dirty-bitmap=qemu:allocation-depth`];
    const ours = await tool(depth);
    expect([ours.code, ours.stderr, ours.stdout]).toEqual([0, '', qemuImg(depth).stdout]);
    const notOffered = await tool(['map', '--image-opts', `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${rawPort},export=disk,x-dirty-bitmap=qemu:allocation-depth`]);
    expect([notOffered.code, notOffered.stderr]).toEqual([
      1,
      `tessera-img: Could not open 'driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${rawPort},export=disk,x-dirty-bitmap=qemu:allocation-depth': Could not open 'nbd://127.0.0.1:${rawPort}/disk': the server does not offer the metadata context 'qemu:allocation-depth' (x-dirty-bitmap)\n`,
    ]);
    for (const wrong of ['driver=nbd,export=disk', `driver=nbd,server.host=127.0.0.1,server.port=${rawPort}`, 'driver=nbd,server.type=unix', `driver=nbd,server.type=inet,server.host=127.0.0.1,host=x`]) {
      const theirs = qemuImg(['info', '--image-opts', wrong]);
      const ours = await tool(['info', '--image-opts', wrong]);
      expect([ours.code, ours.stderr]).toEqual([theirs.code, theirs.stderr.replace(/^qemu-img: /, 'tessera-img: ')]);
    }
  });

  it('compare tells a differing byte as qemu-img does', async () => {
    const other = join(dir, `other-${configuration}.raw`);
    execFileSync('cp', [join(dir, 'fragmented.raw'), other]);
    execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x77 4194304 512', other], { stdio: 'ignore' });
    const url = urls['qemu-nbd raw, nbd://']!;
    const ours = await tool(['compare', url, other]);
    const theirs = qemuImg(['compare', url, other]);
    expect([ours.code, ours.stdout]).toEqual([theirs.code, theirs.stdout]);
    rmSync(other);
  });

  it('convert -n -O raw into an nbdkit memory export and a qemu-nbd export, and -O qcow2 into the memory export: qemu-img check and compare accept them', async () => {
    const memorySocket = join(dir, `memory-${configuration}.sock`);
    const target = join(dir, `target-${configuration}.raw`);
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', target, '8M']);
    execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x99 0 8M', target], { stdio: 'ignore' }); // old bytes to overwrite, zero runs included
    const targetSocket = join(dir, `target-${configuration}.sock`);
    const memory = await startServer('nbdkit', ['-f', '-U', memorySocket, 'memory', '8M'], memorySocket);
    const qemuNbd = await startServer('qemu-nbd', ['-f', 'raw', '-t', '-x', 'disk', '-k', targetSocket, target], targetSocket);
    try {
      for (const url of [`nbd+unix:///?socket=${memorySocket}`, `nbd+unix:///disk?socket=${targetSocket}`]) {
        const converted = await tool(['convert', '-n', '-O', 'raw', 'fragmented.raw', url]);
        expect([converted.code, converted.stderr]).toEqual([0, '']);
        expect(qemuImg(['compare', '-f', 'raw', '-F', 'raw', 'fragmented.raw', url].map((a) => (a === 'fragmented.raw' ? join(dir, a) : a))).stdout).toBe('Images are identical.\n');
      }
      // Without -n: the export is "created" as qemu does it (it cannot grow; its first sector is
      // wiped) and a qcow2 image is written into it, which qemu-img checks and reads.
      const memoryUrl = `nbd+unix:///?socket=${memorySocket}`;
      const qcow2 = await tool(['convert', '-O', 'qcow2', 'fragmented.raw', memoryUrl]);
      expect([qcow2.code, qcow2.stderr]).toEqual([0, '']);
      expect(qemuImg(['check', '-f', 'qcow2', memoryUrl]).code).toBe(0);
      expect(qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', join(dir, 'fragmented.raw'), memoryUrl]).stdout).toBe('Images are identical.\n');
      const grow = await tool(['create', '-f', 'raw', memoryUrl, '9M']);
      expect([grow.code, grow.stderr]).toEqual([1, `tessera-img: ${memoryUrl}: Cannot grow NBD nodes\n`]);
    } finally {
      await memory.stop();
      await qemuNbd.stop();
    }
    // Flushed and disconnected cleanly: the file qemu-nbd served holds the bytes.
    expect(readFileSync(target).equals(readFileSync(join(dir, 'fragmented.raw')))).toBe(true);
    rmSync(target);
  });

  it('a read-only export opened for writing is refused with qemu-img\'s message', async () => {
    const url = urls['qemu-nbd raw, nbd://']!;
    const ours = await tool(['convert', '-n', '-O', 'raw', 'fragmented.raw', url]);
    const theirs = qemuImg(['convert', '-n', '-O', 'raw', join(dir, 'fragmented.raw'), url]);
    expect(ours.code).toBe(1);
    expect(ours.stderr).toBe(theirs.stderr.replace(/^qemu-img:/, 'tessera-img:'));
  });
});

describe('convert -n onto an NBD export (modular)', () => {
  const tool = (args: string[]) => run(executable('img-tool', 'modular'), args, { cwd: dir, timeoutMs: 120_000 });

  it('asks the target for block status about once per 2 MiB chunk, not once per zero run, and writes the same bytes', async () => {
    const size = 32 * MiB;
    // Data and zero runs of 4-60 KiB interleaved: hundreds of zero runs per chunk.
    const source = join(dir, 'runs.raw');
    const bytes = Buffer.alloc(size);
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let at = 0, data = true; at < size; data = !data) {
      const length = 4096 * (1 + (next() % 15));
      if (data) bytes.fill(1 + (next() % 255), at, Math.min(size, at + length));
      at += length;
    }
    writeFileSync(source, bytes);
    const socket = join(dir, 'logged.sock');
    const log = join(dir, 'logged.log');
    const server = await startServer('nbdkit', ['-f', '-U', socket, '--filter=log', 'memory', String(size), `logfile=${log}`], socket);
    const url = `nbd+unix:///?socket=${socket}`;
    try {
      // Old bytes in the first half (zero runs must be written there), holes in the second.
      execFileSync('qemu-io', ['-f', 'raw', '-c', `write -P 0x99 0 ${size / 2}`, url], { stdio: 'ignore' });
      const before = readFileSync(log, 'utf8').length;
      const converted = await tool(['convert', '-n', '-O', 'raw', source, url]);
      expect([converted.code, converted.stderr]).toEqual([0, '']);
      const requests = readFileSync(log, 'utf8').slice(before).match(/ Extents id=\d+ offset=/g) ?? [];
      expect(requests.length).toBeGreaterThan(0);
      expect(requests.length).toBeLessThanOrEqual(size / (2 * MiB));
      expect(qemuImg(['compare', '-f', 'raw', '-F', 'raw', source, url]).stdout).toBe('Images are identical.\n');
    } finally {
      await server.stop();
    }
  });
});

describe('convert from an NBD export (modular)', () => {
  const tool = (args: string[]) => run(executable('img-tool', 'modular'), args, { cwd: dir, timeoutMs: 120_000 });

  it('reads only what block status did not say reads as zeroes, as qemu-img, and gets the same bytes', async () => {
    const size = 16 * MiB;
    const socket = join(dir, 'sparse-source.sock');
    const log = join(dir, 'sparse-source.log');
    const server = await startServer('nbdkit', ['-f', '-U', socket, '--filter=log', 'memory', String(size), `logfile=${log}`], socket);
    const url = `nbd+unix:///?socket=${socket}`;
    const out = join(dir, 'from-sparse.raw');
    try {
      // Data and holes inside one 2 MiB chunk and across chunks; the rest of the export holes.
      const writes = [['0x11', 0, 64 * 1024], ['0x22', MiB, 300 * 1024], ['0x33', 4 * MiB, 3 * MiB], ['0x44', 9 * MiB + 4096, 8192]] as const;
      execFileSync('qemu-io', ['-f', 'raw', ...writes.flatMap(([p, at, n]) => ['-c', `write -P ${p} ${at} ${n}`]), url], { stdio: 'ignore' });
      const before = readFileSync(log, 'latin1').length;
      const converted = await tool(['convert', '-O', 'raw', url, out]);
      expect([converted.code, converted.stderr]).toEqual([0, '']);
      // The zero runs the server named, and every read asked for after it named them.
      const lines = readFileSync(log, 'latin1').slice(before).split('\n');
      expect(qemuImg(['compare', '-f', 'raw', '-F', 'raw', url, out]).stdout).toBe('Images are identical.\n');
      const zeroRuns: Array<[number, number]> = [];
      const reads: Array<[number, number]> = [];
      for (const line of lines) {
        const extents = /Extents id=\d+ extents=\((.*)\) return=0/.exec(line);
        if (extents) {
          for (const [, start, length, kind] of extents[1]!.matchAll(/(0x[0-9a-f]+) (0x[0-9a-f]+) "([^"]*)"/g)) {
            if (kind!.includes('zero')) zeroRuns.push([Number(start), Number(start) + Number(length)]);
          }
        }
        const read = / Read id=\d+ offset=(0x[0-9a-f]+) count=(0x[0-9a-f]+)/.exec(line);
        if (read && zeroRuns.length) reads.push([Number(read[1]), Number(read[1]) + Number(read[2])]);
      }
      expect(zeroRuns.length).toBeGreaterThan(2);
      const overlapping = reads.filter(([from, to]) => zeroRuns.some(([start, end]) => from < end && start < to));
      expect(overlapping).toEqual([]);
      // Everything else was read, once (the server keeps data in 32 KiB pages, so its data runs are a little longer than the writes).
      const zeroBytes = [...new Map(zeroRuns.map(([start, end]) => [start, end - start])).values()].reduce((sum, n) => sum + n, 0);
      expect(reads.reduce((sum, [from, to]) => sum + (to - from), 0)).toBe(size - zeroBytes);
      expect(size - zeroBytes).toBeLessThan(4 * MiB);
    } finally {
      await server.stop();
      rmSync(out, { force: true });
    }
  });

  it('reads and writes whole chunks as requests of at most 512 KiB, and the bytes arrive whole', async () => {
    // qemu-nbd allocates a request's buffer afresh: 2 MiB requests cost it a page fault for every
    // 4 KiB served (nbd-node.ts: MAX_TRANSFER). Random bytes, so a payload split at the wrong
    // place or landing in the wrong buffer shows in the compare.
    const size = 6 * MiB;
    const source = join(dir, 'request-size.raw');
    writeFileSync(source, randomBytes(size));
    const socket = join(dir, 'request-size.sock');
    const log = join(dir, 'request-size.log');
    const server = await startServer('nbdkit', ['-f', '-U', socket, '--filter=log', 'memory', String(size), `logfile=${log}`], socket);
    const url = `nbd+unix:///?socket=${socket}`;
    const out = join(dir, 'request-size-out.raw');
    try {
      const written = await tool(['convert', '-n', '-O', 'raw', source, url]);
      expect([written.code, written.stderr]).toEqual([0, '']);
      const read = await tool(['convert', '-O', 'raw', url, out]);
      expect([read.code, read.stderr]).toEqual([0, '']);
      expect(readFileSync(out).equals(readFileSync(source))).toBe(true);
      const counts = (kind: string) => [...readFileSync(log, 'latin1').matchAll(new RegExp(` ${kind} id=\\d+ offset=0x[0-9a-f]+ count=(0x[0-9a-f]+)`, 'g'))].map((m) => Number(m[1]));
      for (const kind of ['Read', 'Write']) {
        // The data as 512 KiB requests; besides them only the probe's small reads.
        const sizes = counts(kind);
        expect(Math.max(...sizes), kind).toBe(512 * 1024);
        expect(sizes.filter((n) => n === 512 * 1024).length * 512 * 1024, kind).toBe(size);
        expect(sizes.filter((n) => n !== 512 * 1024).every((n) => n <= 4096), kind).toBe(true);
      }
    } finally {
      await server.stop();
      rmSync(out, { force: true });
    }
  });
});

describe('nbd failures (modular)', () => {
  const tool = (args: string[]) => run(executable('img-tool', 'modular'), args, { cwd: dir, timeoutMs: 30_000 });
  const timed = async (args: string[]) => {
    const started = Date.now();
    const result = await tool(args);
    return { ...result, seconds: (Date.now() - started) / 1000 };
  };

  it('an unknown export: qemu-img\'s words, and the exports the server has', async () => {
    const url = `nbd://127.0.0.1:${rawPort}/nope`;
    const result = await timed(['info', url]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`tessera-img: Could not open '${url}': Requested export not available: server reported: export 'nope' not present (the server has: 'disk')\n`);
  });

  it('a refused connection', async () => {
    const url = `nbd://127.0.0.1:${await freePort()}/disk`;
    const result = await timed(['info', url]);
    expect(result.stderr).toBe(`tessera-img: Could not open '${url}': Failed to connect to '127.0.0.1:${url.split(':')[2]!.split('/')[0]}': Connection refused\n`);
    expect(result.code).toBe(1);
  });

  it('a server that accepts and never answers: the handshake deadline ends it', async () => {
    const silent = await startSilentServer();
    try {
      const url = `nbd://127.0.0.1:${silent.port}/disk`;
      const options = `driver=raw,file.driver=nbd,file.filename=${url},file.connect-timeout=1`;
      const result = await timed(['info', '--image-opts', options]);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `tessera-img: Could not open '${options}': Could not open '${url}': the server '127.0.0.1:${silent.port}' did not complete the NBD handshake within 1 s (connect-timeout=1)\n`,
      );
      expect(result.seconds).toBeLessThan(5);
    } finally {
      await silent.close();
    }
  });

  it('a server that requires TLS, and no TLS credentials given: refused in one line saying what to give', async () => {
    const keys = join(dir, 'keys.psk');
    writeFileSync(keys, `alice:${'ab'.repeat(32)}\n`, { mode: 0o600 });
    const socket = join(dir, 'tls.sock');
    const tls = await startServer('nbdkit', ['-f', '--tls=require', `--tls-psk=${keys}`, '-U', socket, 'memory', '1M'], socket);
    try {
      const url = `nbd+unix:///?socket=${socket}`;
      const result = await timed(['info', url]);
      expect([result.code, result.stderr]).toEqual([
        1,
        `tessera-img: Could not open '${url}': the server requires TLS: give TLS credentials (--object tls-creds-x509,id=tls0,dir=DIR,endpoint=client and the option tls-creds=tls0)\n`,
      ]);
    } finally {
      await tls.stop();
    }
  });

  it('the server killed mid-transfer: convert fails at once, naming the URL', async () => {
    const socket = join(dir, 'slow.sock');
    // Every read takes 0.2 s, so the copy of 64 MiB is still running when the server dies.
    const log = join(dir, 'slow.log');
    const slow = await startServer('nbdkit', ['-f', '-r', '-U', socket, '--filter=log', '--filter=delay', 'pattern', '64M', 'delay-read=200ms', `logfile=${log}`], socket);
    const url = `nbd+unix:///?socket=${socket}`;
    const converting = tool(['convert', '-O', 'raw', url, join(dir, 'killed.raw')]).then((result) => ({ ...result, endedAt: Date.now() }));
    // Killed once the tool is reading (its first read logged), however long a loaded machine takes to start it.
    const reading = () => existsSync(log) && / Read id=/.test(readFileSync(log, 'utf8'));
    for (const deadline = Date.now() + 60_000; !reading() && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(reading()).toBe(true);
    const killedAt = Date.now();
    await slow.stop(true);
    const result = await converting;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^tessera-img: .*nbd\\+unix:///\\?socket=${socket.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: .*(closed the connection|Connection reset by peer)\\n$`));
    expect((result.endedAt - killedAt) / 1000).toBeLessThan(5);
  });
});
