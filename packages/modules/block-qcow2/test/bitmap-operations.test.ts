// Persistent dirty bitmaps through every other command that changes an image, with qemu-img 7.2
// as the oracle: each operation is run by tessera-img on one copy and by qemu-img on its twin, and
// then both have the same `info --output=json` (bitmaps, sizes, features), the same dirty ranges
// in every bitmap as qemu-nbd exports them, and ours passes `qemu-img check`. Where qemu-img
// refuses (snapshot apply, an inconsistent bitmap's resize) the refusal and its message are its,
// and the file is left as it was. `check -r` repairs such an image as qemu-img does. (One configuration: the driver code is the same in both.)
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable, run } from '../../../../tools/test-support/executables.ts';
import { dirtyRanges } from './helpers/dirty-ranges.ts';

let dir: string;
const qemu = (tool: string, cwd: string, ...args: string[]) => execFileSync(tool, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** `info --output=json` without what legitimately differs between twin files. */
function infoOf(cwd: string, image: string): unknown {
  const info = JSON.parse(qemu('qemu-img', cwd, 'info', '--output=json', image));
  delete info['actual-size'];
  delete info.filename;
  if (info['full-backing-filename']) info['full-backing-filename'] = info['full-backing-filename'].replace(cwd, '');
  for (const snapshot of info.snapshots ?? []) for (const key of ['date-sec', 'date-nsec']) delete snapshot[key];
  return info;
}

/** A 64 MiB image with these bitmaps ([name, granularity]), the second disabled after the first batch of writes. */
function imageWithBitmaps(cwd: string, name: string, bitmaps: readonly [string, string][], writes: string[][], options = 'cluster_size=64k'): void {
  qemu('qemu-img', cwd, 'create', '-q', '-f', 'qcow2', '-o', options, name, '64M');
  for (const [bitmap, granularity] of bitmaps) qemu('qemu-img', cwd, 'bitmap', '--add', '-g', granularity, name, bitmap);
  for (const [i, batch] of writes.entries()) {
    qemu('qemu-io', cwd, ...batch.flatMap((w) => ['-c', `write ${w}`]), name);
    // After the first batch the second bitmap stops recording: a disabled bitmap keeps its bits.
    if (i === 0 && bitmaps[1]) qemu('qemu-img', cwd, 'bitmap', '--disable', name, bitmaps[1][0]);
  }
}

interface Twins {
  readonly ours: string;
  readonly theirs: string;
}

/** Two directories holding copies of `files` (names in `dir`). */
function twins(name: string, files: readonly string[]): Twins {
  const pair = { ours: join(dir, `${name}-ours`), theirs: join(dir, `${name}-qemu`) };
  for (const d of [pair.ours, pair.theirs]) {
    mkdirSync(d);
    for (const f of files) copyFileSync(join(dir, f), join(d, f));
  }
  return pair;
}

const img = (cwd: string, ...args: string[]) => run(executable('img-tool', 'modular'), args, { cwd });

/** Run `args` with both tools; both succeed. */
async function both(t: Twins, ...args: string[]): Promise<void> {
  const ours = await img(t.ours, ...args);
  expect(ours.code, `${args.join(' ')}: ${ours.stderr}`).toBe(0);
  qemu('qemu-img', t.theirs, ...args);
}

/** Same info, same dirty ranges (some of them dirty), and ours is clean by qemu-img check. */
function expectSame(t: Twins, image: string, bitmaps: readonly string[]): void {
  expect(qemu('qemu-img', t.ours, 'check', image)).toContain('No errors were found on the image.');
  expect(infoOf(t.ours, image)).toEqual(infoOf(t.theirs, image));
  const ours = dirtyRanges(t.ours, image, bitmaps);
  expect(ours).toEqual(dirtyRanges(t.theirs, image, bitmaps));
  expect(Object.values(ours).join('')).toContain('dirty');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-bitmap-ops-'));
  // b1 (512-byte granules, 4 KiB clusters) has a bitmap table of several entries (16 MiB each), which resizes change.
  imageWithBitmaps(dir, 'start.qcow2', [['b1', '512'], ['b2', '128k']], [['1M 64k', '40M 200k'], ['10M 4k']], 'cluster_size=4k');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('persistent bitmaps through resize, amend, snapshot, commit and rebase (qemu-img as the oracle)', () => {
  it('resize grows and shrinks the bitmaps with the disk (a partly kept last granule keeps its bit; what comes back is clean)', async () => {
    const t = twins('resize', ['start.qcow2']);
    await both(t, 'resize', 'start.qcow2', '+10M');
    expectSame(t, 'start.qcow2', ['b1', 'b2']);
    // 40 MiB + 512: b2's dirty granule at 40 MiB is kept in part, the next one dropped (the same
    // byte of the bitmap); b1 keeps its granule at 40 MiB.
    await both(t, 'resize', '--shrink', 'start.qcow2', String(40 * 2 ** 20 + 512));
    expectSame(t, 'start.qcow2', ['b1', 'b2']);
    await both(t, 'resize', 'start.qcow2', '+30M');
    expectSame(t, 'start.qcow2', ['b1', 'b2']);
  });

  it('amend keeps the bitmaps through lazy_refcounts, refcount_bits and size; compat=0.10 drops them', async () => {
    const t = twins('amend', ['start.qcow2']);
    for (const option of ['lazy_refcounts=on', 'refcount_bits=64', 'size=80M', 'size=32M']) {
      await both(t, 'amend', '-o', option, 'start.qcow2');
      expectSame(t, 'start.qcow2', ['b1', 'b2']);
    }
    // qemu-img 7.2 drops them too, but leaks their clusters (its check then reports leaks) and
    // leaves their extension (each later open warns): ours frees both.
    await both(t, 'amend', '-o', 'compat=0.10,refcount_bits=16,lazy_refcounts=off', 'start.qcow2');
    expect(infoOf(t.ours, 'start.qcow2')).toEqual(infoOf(t.theirs, 'start.qcow2'));
    expect(spawnSync('qemu-img', ['check', 'start.qcow2'], { cwd: t.ours, encoding: 'utf8' })).toMatchObject({ status: 0, stderr: '' });
  });

  it('snapshot create and delete keep the bitmaps; apply is refused in qemu-img\'s words, nothing changed', async () => {
    const t = twins('snapshot', ['start.qcow2']);
    await both(t, 'snapshot', '-c', 's1', 'start.qcow2');
    expectSame(t, 'start.qcow2', ['b1', 'b2']);
    const before = readFileSync(join(t.ours, 'start.qcow2'));
    for (const name of ['s1', 'nonexistent']) {
      const ours = await img(t.ours, 'snapshot', '-a', name, 'start.qcow2');
      const theirs = spawnSync('qemu-img', ['snapshot', '-a', name, 'start.qcow2'], { cwd: t.theirs, encoding: 'utf8' });
      expect(ours.code).toBe(theirs.status);
      expect(ours.stderr.replace(/^tessera-img/, 'qemu-img')).toBe(theirs.stderr);
    }
    expect(readFileSync(join(t.ours, 'start.qcow2')).equals(before)).toBe(true);
    await both(t, 'snapshot', '-d', 's1', 'start.qcow2');
    expectSame(t, 'start.qcow2', ['b1', 'b2']);
  });

  it('commit: the base\'s enabled bitmap records what is committed into it; the emptied overlay keeps its own bitmaps', async () => {
    imageWithBitmaps(dir, 'base.qcow2', [['b1', '64k'], ['b2', '128k']], [['1M 64k']]);
    qemu('qemu-img', dir, 'create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2');
    for (const [bitmap, flags] of [['t1', []], ['t2', ['--disable']]] as const) qemu('qemu-img', dir, 'bitmap', '--add', ...flags, 'top.qcow2', bitmap);
    qemu('qemu-io', dir, '-c', 'write 5M 100k', '-c', 'write -z 30M 64k', '-c', 'write 50M 512', 'top.qcow2');
    const t = twins('commit', ['base.qcow2', 'top.qcow2']);
    await both(t, 'commit', 'top.qcow2');
    expectSame(t, 'base.qcow2', ['b1', 'b2']);
    expectSame(t, 'top.qcow2', ['t1', 't2']);
    expect(dirtyRanges(t.ours, 'base.qcow2', ['b1']).b1).toMatch(/5242880 +131072 +1 +dirty/);
  });

  it('rebase: the overlay\'s enabled bitmap records the clusters rebase copies in; -u changes no bitmap', async () => {
    qemu('qemu-img', dir, 'create', '-q', '-f', 'qcow2', 'new-base.qcow2', '64M');
    qemu('qemu-io', dir, '-c', 'write -P 7 20M 64k', 'new-base.qcow2');
    const t = twins('rebase', ['base.qcow2', 'top.qcow2', 'new-base.qcow2']);
    await both(t, 'rebase', '-b', 'new-base.qcow2', '-F', 'qcow2', 'top.qcow2');
    expectSame(t, 'top.qcow2', ['t1', 't2']);
    await both(t, 'rebase', '-u', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2');
    expectSame(t, 'top.qcow2', ['t1', 't2']);
  });

  it('check -r all repairs a leak in an image with bitmaps as qemu-img does, the bitmaps kept', async () => {
    const bytes = readFileSync(join(dir, 'start.qcow2'));
    const cs = 2 ** bytes.readUInt32BE(20);
    const block = Number(bytes.readBigUInt64BE(Number(bytes.readBigUInt64BE(48))));
    const leaked = Math.ceil(bytes.length / cs); // a cluster after the file's last, counted as used
    bytes.writeUInt16BE(1, block + 2 * leaked);
    writeFileSync(join(dir, 'leaky.qcow2'), Buffer.concat([bytes, Buffer.alloc((leaked + 1) * cs - bytes.length)]));
    const t = twins('check', ['leaky.qcow2']);
    const ours = await img(t.ours, 'check', '-r', 'all', 'leaky.qcow2');
    const theirs = spawnSync('qemu-img', ['check', '-r', 'all', 'leaky.qcow2'], { cwd: t.theirs, encoding: 'utf8' });
    expect(theirs.stderr).toContain(`Repairing cluster ${leaked} refcount=1 reference=0`);
    expect(ours).toEqual({ code: theirs.status, stdout: theirs.stdout, stderr: theirs.stderr });
    expectSame(t, 'leaky.qcow2', ['b1', 'b2']);
  });

  it('an inconsistent bitmap (left in use) refuses a resize in qemu-img\'s words, the file unchanged', async () => {
    const bytes = readFileSync(join(dir, 'start.qcow2'));
    const ext = bytes.indexOf(Buffer.from([0x23, 0x85, 0x28, 0x75]), 112);
    const entry = Number(bytes.readBigUInt64BE(ext + 24));
    bytes.writeUInt32BE(bytes.readUInt32BE(entry + 12) | 1, entry + 12);
    writeFileSync(join(dir, 'in-use.qcow2'), bytes);
    writeFileSync(join(dir, 'in-use-qemu.qcow2'), bytes);
    const ours = await img(dir, 'resize', 'in-use.qcow2', '+1M');
    const theirs = spawnSync('qemu-img', ['resize', 'in-use-qemu.qcow2', '+1M'], { cwd: dir, encoding: 'utf8' });
    expect(theirs.status).toBe(1);
    expect(ours.code).toBe(1);
    expect(ours.stderr.replace(/^tessera-img/, 'qemu-img')).toBe(theirs.stderr);
    expect(readFileSync(join(dir, 'in-use.qcow2')).equals(bytes)).toBe(true);
  });
});
