// Guest writes through tessera-img into crafted qcow2 images whose entries point into metadata
// (QEMU's metadata overlap check): `convert -n` and `commit` are refused as qemu-img refuses them
// (same exit code and messages, run on twin copies), the metadata is left as it was, and both
// images end up marked corrupt. (`dd` always creates its output, so it never writes into one.)
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { l2Entry, setRefcount } from '../../modules/block-qcow2/test/qcow2-edit.ts';
import { both, configurations, qemuImg, qemuInfo, tempDir, tool, twinDirs, writeImage, random, MiB } from './helpers.ts';

const COPIED = 1n << 63n;
const CS = 65536;
let fixture: string;

beforeAll(async () => {
  fixture = await tempDir();
  // QEMU's layout: header 0, refcount table 0x10000, refcount block 0x20000, L1 0x30000, L2 0x40000, data 0x50000.
  const qcow2 = (name: string) => {
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', name, '64M'], { cwd: fixture });
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 64k', name], { cwd: fixture, stdio: 'ignore' });
    return join(fixture, name);
  };
  l2Entry(qcow2('l2-at-l1.qcow2'), 0, 0x30000n | COPIED);
  setRefcount(qcow2('l1-free.qcow2'), 3, 0); // the allocator would hand out the L1 table's cluster
  l2Entry(qcow2('base.qcow2'), 0, 0x20000n | COPIED); // a commit's base whose L2 entry points at the refcount block
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'], { cwd: fixture });
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 2 0 128k', 'top.qcow2'], { cwd: fixture, stdio: 'ignore' });
  await writeImage(join(fixture, 'src.raw'), 64 * MiB, [[0, random(256 * 1024)]]);
  await writeImage(join(fixture, 'one-cluster.raw'), 64 * MiB, [[CS, random(CS)]]);
});

const cluster = async (path: string, at: number) => (await readFile(path)).subarray(at, at + CS);

describe.each(configurations)('writes onto qcow2 metadata (%s)', (configuration) => {
  it.each([
    ['convert -n, an L2 entry at the L1 table', ['convert', '-n', '-O', 'qcow2', 'src.raw', 'l2-at-l1.qcow2'], 'l2-at-l1.qcow2', 0x30000],
    // (One new cluster: the lowest free one, the L1 table's, is taken. qemu-img places a new cluster
    // after the one before it when it can, so it writes elsewhere here: not compared.)
    ['convert -n, refcounts that call the L1 table free', ['convert', '-n', '-O', 'qcow2', 'one-cluster.raw', 'l1-free.qcow2'], 'l1-free.qcow2', 0x30000],
    ['commit, a base whose L2 entry points at its refcount block', ['commit', 'top.qcow2'], 'base.qcow2', 0x20000],
  ] as const)('%s: refused as qemu-img refuses it, metadata intact, marked corrupt', async (_name, args, image, metadata) => {
    const dirs = await twinDirs(fixture);
    const before = await cluster(join(fixture, image), metadata);
    const { qemu, ours } = await both(configuration, args, dirs);
    if (image !== 'l1-free.qcow2') expect(ours).toEqual(qemu);
    expect(ours.code).toBe(1);
    expect(ours.stderr).toMatch(/^qcow2: Marking image as corrupt: Preventing invalid write on metadata \(overlaps with [A-Za-z0-9 _]+\); further corruption events will be suppressed\n/);
    const after = await cluster(join(dirs.ours, image), metadata);
    // The refcount block keeps its bytes but for the counts the allocation rightly raised.
    if (metadata !== 0x20000) expect(after.equals(before)).toBe(true);
    for (const dir of image !== 'l1-free.qcow2' ? [dirs.ours, dirs.qemu] : [dirs.ours]) {
      const info = (await qemuInfo(join(dir, image), 'qcow2')) as { 'format-specific': { data: { corrupt: boolean } } };
      expect(info['format-specific'].data.corrupt).toBe(true);
    }
    if (image !== 'l1-free.qcow2') return;
    // check -r all repairs it (the refcounts rebuilt, the mark cleared); then the write goes through.
    expect((await tool(configuration, ['check', '-r', 'all', image], dirs.ours)).code).toBe(0);
    expect((await qemuImg(['check', image], dirs.ours)).code).toBe(0);
    expect((await tool(configuration, args, dirs.ours)).code).toBe(0);
    expect((await qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', 'one-cluster.raw', image], dirs.ours)).stdout).toBe('Images are identical.\n');
    expect(await cluster(join(dirs.ours, image), metadata)).toEqual(before);
  });
});
