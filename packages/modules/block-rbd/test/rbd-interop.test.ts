// tessera-img against a real single-node Ceph cluster (started here, once for the file): the same
// info, map, snapshot list and guest bytes as qemu-img on the same rbd: names; images written,
// created, resized and snapshotted here as qemu-img and the rbd command see them; and every
// failure one line naming the image and the cause, in qemu-img's words, bounded in time.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable, run, type Configuration } from '../../../../tools/test-support/executables.ts';
import { startCeph, type RunningCeph } from './helpers/ceph.ts';
import { qemuImg } from '../../../../tools/test-support/qemu-img.ts';

const MiB = 1024 * 1024;
let dir: string;
let ceph: RunningCeph;
let fragmented: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-rbd-'));
  ceph = await startCeph();
  // 20 MiB over five 4 MiB objects: data and zero runs interleaved, some not object aligned, and
  // an object holding only written zeroes.
  fragmented = join(dir, 'fragmented.raw');
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', fragmented, '20M']);
  const writes = [
    ['0x11', 0, 64 * 1024],
    ['0x22', 300 * 1024, 1000 * 512],
    ['0x33', 9 * MiB + 512, 5 * 512],
    ['0x44', 17 * MiB, 3 * MiB],
  ] as const;
  execFileSync('qemu-io', ['-f', 'raw', ...writes.flatMap(([p, at, n]) => ['-c', `write -P ${p} ${at} ${n}`]), fragmented], { stdio: 'ignore' });
  // qemu-img writes the image into the cluster; a snapshot, then a change after it.
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', fragmented, ceph.location('frag')]);
  await ceph.rbd('snap', 'create', 'rbd/frag@before');
  execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x55 13M 4k', ceph.location('frag')], { stdio: 'ignore' });
  execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x55 13M 4k', fragmented], { stdio: 'ignore' });
}, 60_000);

afterAll(async () => {
  await ceph?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(configurations)('rbd images (%s)', (configuration: Configuration) => {
  const tool = (args: string[], timeoutMs?: number) => run(executable('img-tool', configuration), args, { cwd: dir, ...(timeoutMs ? { timeoutMs } : {}) });

  it("info (human, JSON), map (human, JSON) and snapshot -l are qemu-img's; compare and convert -O raw give the image and its snapshot", async () => {
    for (const name of [ceph.location('frag'), ceph.location('frag@before', 'id=admin')]) {
      for (const args of [['info'], ['info', '--output=json'], ['map'], ['map', '--output=json'], ['snapshot', '-l']]) {
        const ours = await tool([...args, name]);
        expect(ours.stderr).toBe('');
        expect(ours.stdout).toBe(qemuImg([...args, name]).stdout);
      }
    }
    // --image-opts, the image given by its fields (as a format's file and as the protocol alone).
    for (const opts of [`driver=raw,file.driver=rbd,file.pool=rbd,file.image=frag,file.conf=${ceph.conf}`, `driver=rbd,pool=rbd,image=frag,snapshot=before,conf=${ceph.conf}`]) {
      for (const args of [['info'], ['map', '--output=json']]) {
        const ours = await tool([...args, '--image-opts', opts]);
        expect(ours.stderr).toBe('');
        // qemu-img prints an empty "Format specific information:" heading for the rbd protocol node alone.
        expect(ours.stdout).toBe(qemuImg([...args, '--image-opts', opts]).stdout.replace('Format specific information:\n', ''));
      }
    }
    const same = await tool(['compare', ceph.location('frag'), fragmented]);
    expect([same.code, same.stdout]).toEqual([0, 'Images are identical.\n']);
    const out = join(dir, `out-${configuration}.raw`);
    for (const [name, reference] of [
      ['frag', fragmented],
      ['frag@before', join(dir, `before-${configuration}.raw`)],
    ] as const) {
      if (name === 'frag@before') execFileSync('qemu-img', ['convert', '-O', 'raw', ceph.location(name), reference]);
      const converted = await tool(['convert', '-O', 'raw', ceph.location(name), out]);
      expect([converted.code, converted.stderr]).toEqual([0, '']);
      expect(readFileSync(out).equals(readFileSync(reference))).toBe(true);
    }
    expect(readFileSync(out).equals(readFileSync(fragmented))).toBe(false); // the snapshot is older
  });

  // The static build links the same module (its addon included): the first case shows it loads and reads there.
  it.skipIf(configuration === 'static')('convert into rbd (raw and qcow2): qemu-img compare and check accept them, zero objects stay unallocated', async () => {
    const raw = ceph.location(`written-${configuration}`);
    const converted = await tool(['convert', '-O', 'raw', fragmented, raw]);
    expect([converted.code, converted.stderr]).toEqual([0, '']);
    expect(qemuImg(['compare', '-f', 'raw', '-F', 'raw', fragmented, raw]).stdout).toBe('Images are identical.\n');
    // The objects of zeroes were not written: qemu-img maps them as it maps its own copy.
    const theirs = ceph.location(`theirs-${configuration}`);
    qemuImg(['convert', '-f', 'raw', '-O', 'raw', fragmented, theirs]);
    expect(qemuImg(['map', '--output=json', raw]).stdout.replaceAll(`written-${configuration}`, 'x')).toBe(
      qemuImg(['map', '--output=json', theirs]).stdout.replaceAll(`theirs-${configuration}`, 'x'),
    );
    const qcow2 = ceph.location(`q-${configuration}`);
    const intoQcow2 = await tool(['convert', '-O', 'qcow2', fragmented, qcow2]);
    expect([intoQcow2.code, intoQcow2.stderr]).toEqual([0, '']);
    expect(qemuImg(['check', '-f', 'qcow2', qcow2]).code).toBe(0);
    expect(qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', fragmented, qcow2]).stdout).toBe('Images are identical.\n');
    const info = await tool(['info', qcow2]);
    expect(info.stdout).toBe(qemuImg(['info', qcow2]).stdout);
  });

  it.skipIf(configuration === 'static')('create, resize and snapshot -c/-a/-d through librbd, as qemu-img and rbd see them', async () => {
    const name = ceph.location(`made-${configuration}`);
    const created = await tool(['create', '-f', 'raw', name, '8M']);
    expect([created.code, created.stderr]).toEqual([0, '']);
    expect(created.stdout).toBe(`Formatting '${name}', fmt=raw size=8388608\n`);
    // An existing image is refused, as qemu-img refuses it.
    const again = await tool(['create', '-f', 'raw', name, '8M']);
    expect([again.code, again.stderr]).toEqual([1, qemuImg(['create', '-f', 'raw', name, '8M']).stderr.replace('qemu-img:', 'tessera-img:')]);
    expect((await tool(['resize', '-f', 'raw', name, '12M'])).code).toBe(0);
    expect(JSON.parse(qemuImg(['info', '--output=json', name]).stdout)['virtual-size']).toBe(12 * MiB);
    execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x66 0 1M', name], { stdio: 'ignore' });
    expect((await tool(['snapshot', '-c', 'one', name])).code).toBe(0);
    expect(await ceph.rbd('snap', 'ls', `rbd/made-${configuration}`)).toMatch(/\bone\b/);
    const twice = await tool(['snapshot', '-c', 'one', name]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/\ntessera-img: Could not create snapshot 'one': -17 \(File exists\)\n$/);
    execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x77 0 1M', name], { stdio: 'ignore' });
    expect((await tool(['snapshot', '-a', 'one', name])).code).toBe(0);
    expect(execFileSync('qemu-io', ['-f', 'raw', '-c', 'read -P 0x66 0 1M', name], { encoding: 'utf8' })).not.toContain('Pattern verification failed');
    expect((await tool(['snapshot', '-d', 'one', name])).code).toBe(0);
    expect(await ceph.rbd('snap', 'ls', `rbd/made-${configuration}`)).toBe('');
    const missing = await tool(['snapshot', '-d', 'one', name]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/\ntessera-img: Could not delete snapshot 'one': snapshot not found\n$/);
  });
});

describe('rbd failures (modular): one line naming the image and the cause, in qemu-img words, bounded', () => {
  const tool = (args: string[], timeoutMs?: number) => run(executable('img-tool', 'modular'), args, { cwd: dir, ...(timeoutMs ? { timeoutMs } : {}) });

  it('unknown pool, image or snapshot, refused key, missing conf file, a snapshot opened for writing', async () => {
    const bad = join(dir, 'bad.keyring');
    execFileSync('ceph-authtool', ['--create-keyring', bad, '--gen-key', '-n', 'client.admin'], { stdio: 'ignore' });
    const cases = [
      `rbd:nopool/x:conf=${ceph.conf}`,
      ceph.location('nothere'),
      ceph.location('frag@nosnap'),
      ceph.location('frag', `keyring=${bad}`),
      ceph.location('frag', 'id=nobody'),
      'rbd:rbd/frag:conf=/nonexistent/ceph.conf',
      'rbd:rbd',
    ];
    for (const name of cases) {
      const ours = await tool(['info', name]);
      expect([ours.code, ours.stdout, ours.stderr]).toEqual([1, '', qemuImg(['info', name]).stderr.replace('qemu-img:', 'tessera-img:')]);
    }
    const noImage = `driver=raw,file.driver=rbd,file.pool=rbd,file.conf=${ceph.conf}`;
    const ours = await tool(['info', '--image-opts', noImage]);
    expect([ours.code, ours.stderr]).toEqual([1, qemuImg(['info', '--image-opts', noImage]).stderr.replace('qemu-img:', 'tessera-img:')]);
    const write = await tool(['resize', '-f', 'raw', ceph.location('frag@before'), '30M']);
    expect([write.code, write.stderr]).toEqual([1, `tessera-img: Could not open '${ceph.location('frag@before')}': rbd snapshots are read-only\n`]);
  });

  it("koffi's addon as users meet it: four processes at once on a fresh TMPDIR share one kept copy; a TMPDIR anyone may write to gets none", async () => {
    const expected = qemuImg(['info', ceph.location('frag')]).stdout;
    const fresh = mkdtempSync(join(dir, 'tmp-fresh-'));
    const together = await Promise.all([1, 2, 3, 4].map(() => run(executable('img-tool', 'modular'), ['info', ceph.location('frag')], { cwd: dir, env: { TMPDIR: fresh } })));
    for (const ours of together) expect([ours.code, ours.stderr, ours.stdout]).toEqual([0, '', expected]);
    const kept = join(fresh, `tessera-${process.geteuid!()}`);
    // One copy, renamed into place by whichever finished first; no partial file left behind.
    expect(readdirSync(kept)).toEqual([expect.stringMatching(/^koffi-[0-9a-f]{64}\.node$/)]);
    expect(readdirSync(fresh)).toEqual([basename(kept)]);
    // World-writable and not sticky: others could swap a kept copy, so each run gets a private one, removed after.
    const open = mkdtempSync(join(dir, 'tmp-open-'));
    chmodSync(open, 0o777);
    const ours = await run(executable('img-tool', 'modular'), ['info', ceph.location('frag')], { cwd: dir, env: { TMPDIR: open } });
    expect([ours.code, ours.stderr, ours.stdout]).toEqual([0, '', expected]);
    expect(readdirSync(open)).toEqual([]);
  });

  it('without librados/librbd (hidden by an empty file mounted over each, in a mount namespace): which Debian package provides them', async () => {
    const libraries = ['librados.so.2', 'librbd.so.1'].map((name) => execFileSync('sh', ['-c', `readlink -f $(ldconfig -p | awk '/${name} .*x86-64/ {print $NF; exit}')`], { encoding: 'utf8' }).trim());
    const hide = libraries.map((path) => `mount --bind /dev/null ${path}`).join(' && ');
    const name = ceph.location('frag');
    const ours = await run(executable('img-tool', 'modular'), ['info', name], { cwd: dir, wrapper: ['unshare', '-m', 'sh', '-c', `${hide} && exec "$0" "$@"`] });
    expect(ours.code).toBe(1);
    // One line: the image, the library that failed and why, and the package to install.
    expect(ours.stderr.split('\n')).toHaveLength(2);
    expect(ours.stderr.startsWith(`tessera-img: Could not open '${name}': rbd: cannot load librados.so.2 (`)).toBe(true);
    expect(ours.stderr).toContain('file too short');
    expect(ours.stderr.endsWith('install the package librbd1 (apt-get install librbd1)\n')).toBe(true);
  });

  it('no monitor answering: "error connecting: Connection timed out" after the default 10 s deadline (qemu-img waits 300 s)', async () => {
    const started = Date.now();
    const name = `rbd:rbd/frag:mon_host=127.0.0.1\\:9:keyring=${ceph.keyring}`;
    const ours = await tool(['info', name], 30_000);
    const elapsed = Date.now() - started;
    expect([ours.code, ours.stderr]).toEqual([1, `tessera-img: Could not open '${name}': error connecting: Connection timed out\n`]);
    expect(elapsed).toBeGreaterThan(9_000);
    expect(elapsed).toBeLessThan(20_000);
  }, 40_000);
});
