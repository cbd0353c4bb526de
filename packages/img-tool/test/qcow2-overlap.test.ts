// Guest writes through tessera-img into crafted qcow2 images whose entries point into metadata
// (QEMU's metadata overlap check): `convert -n` and `commit` are refused as qemu-img refuses them
// (same exit code and messages, run on twin copies), the metadata is left as it was, and both
// images end up marked corrupt. (`dd` always creates its output, so it never writes into one.)
// The maintenance commands too (resize, snapshot -c/-d/-a, amend, check -r): their metadata writes
// are checked as QEMU checks them, each exempting only the structure it rewrites.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { field64, l1Entry, l2Entry, setRefcount } from '../../modules/block-qcow2/test/qcow2-edit.ts';
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

/** The header's active L1 table made the first snapshot's (whose L1 table the snapshot table's first entry names). */
const activeL1OnSnapshots = (path: string) => void field64(path, 40, field64(path, Number(field64(path, 64))));

/**
 * Crafted images for the maintenance commands, each in QEMU's layout for a 64 MiB image with guest
 * cluster 0 written (header 0, refcount table 0x10000, refcount block 0x20000, L1 0x30000, L2
 * 0x40000, data 0x50000; a snapshot's L1 table 0x60000 and the snapshot table 0x70000 after it).
 */
const maintenance: {
  name: string;
  image: string;
  /** qemu-img commands that prepare the image (after create and a write of guest cluster 0). */
  prepare?: readonly (readonly string[])[];
  craft: (path: string) => void;
  args: readonly string[];
  /** QEMU's name for the structure the write would have hit ('' when qemu-img does the command). */
  hits: string;
  /** That structure's bytes, which must stay as they were. */
  guarded: [number, number];
}[] = [
  {
    // 4 KiB clusters: growing to 2 GiB needs a 2-cluster L1 table, which both place in the lowest
    // free run: the refcount table and block that the crafted refcounts call free.
    name: 'resize: a moved L1 table onto the refcount table',
    image: 'resize.qcow2',
    craft: (path) => [1, 2].forEach((cluster) => setRefcount(path, cluster, 0)),
    args: ['resize', 'resize.qcow2', '2G'],
    hits: 'refcount table',
    guarded: [0x1000, 0x1000],
  },
  {
    name: "snapshot -c: the snapshot's L1 table onto the active one",
    image: 'snapshot-create.qcow2',
    craft: (path) => setRefcount(path, 3, 0),
    args: ['snapshot', '-c', 'two', 'snapshot-create.qcow2'],
    hits: 'active L1 table',
    guarded: [0x30000, CS],
  },
  {
    name: 'snapshot -d: the new snapshot table onto the refcount table',
    image: 'snapshot-delete.qcow2',
    prepare: [['snapshot', '-c', 'one'], ['snapshot', '-c', 'spare']],
    craft: (path) => setRefcount(path, 1, 0),
    args: ['snapshot', '-d', 'one', 'snapshot-delete.qcow2'],
    hits: 'refcount table',
    guarded: [0x10000, CS],
  },
  {
    // Reverting rewrites the active L1 table in place: here that is the snapshot's own.
    name: "snapshot -a: the active L1 table rewritten over a snapshot's",
    image: 'snapshot-apply.qcow2',
    prepare: [['snapshot', '-c', 'one']],
    craft: activeL1OnSnapshots,
    args: ['snapshot', '-a', 'one', 'snapshot-apply.qcow2'],
    hits: 'inactive L1 table',
    guarded: [0x60000, CS],
  },
  {
    // The new refcount structure goes after the last cluster the refcounts call used.
    name: 'amend -o refcount_bits: new refcount blocks onto the L2 table',
    image: 'amend.qcow2',
    craft: (path) => [4, 5].forEach((cluster) => setRefcount(path, cluster, 0)),
    args: ['amend', '-o', 'refcount_bits=8', 'amend.qcow2'],
    hits: 'active L2 table',
    guarded: [0x40000, CS],
  },
  {
    // Repairing the active L1 entry's COPIED flag would write into the snapshot's L1 table.
    name: "check -r all: an L1 entry repaired inside a snapshot's L1 table",
    image: 'check.qcow2',
    prepare: [['snapshot', '-c', 'one']],
    craft: activeL1OnSnapshots,
    args: ['check', '-r', 'all', 'check.qcow2'],
    hits: 'inactive L1 table',
    guarded: [0x60000, CS],
  },
  {
    // The L1 entry names the refcount block as its L2 table: the entries a shrink cuts off are all
    // zero there, so nothing is written to it (QEMU discards only what is allocated).
    name: 'resize --shrink: an L2 table that is the refcount block, nothing to cut (done, as qemu-img does it)',
    image: 'shrink.qcow2',
    craft: (path) => void l1Entry(path, 0, 0x20000n | COPIED),
    args: ['resize', '--shrink', 'shrink.qcow2', '32M'],
    hits: '',
    guarded: [0x20000, CS],
  },
  {
    // Header fields are the header's: QEMU never checks them, whatever else claims the first cluster.
    name: "snapshot -c: another snapshot's L1 table on the header (done, as qemu-img does it)",
    image: 'snapshot-on-header.qcow2',
    prepare: [['snapshot', '-c', 'one']],
    craft: (path) => void field64(path, Number(field64(path, 64)), 0n),
    args: ['snapshot', '-c', 'two', 'snapshot-on-header.qcow2'],
    hits: '',
    guarded: [0, 60],
  },
];

describe.each(configurations)('maintenance writes onto qcow2 metadata (%s)', (configuration) => {
  let crafted: string;
  beforeAll(async () => {
    crafted = await tempDir();
    const run = (tool: string, ...args: string[]) => execFileSync(tool, args, { cwd: crafted, stdio: 'ignore' });
    for (const { image, prepare, craft } of maintenance) {
      run('qemu-img', 'create', '-q', '-f', 'qcow2', ...(image === 'resize.qcow2' ? ['-o', 'cluster_size=4096'] : []), image, '64M');
      run('qemu-io', '-f', 'qcow2', '-c', 'write -P 1 0 64k', image);
      for (const command of prepare ?? []) run('qemu-img', ...command, image);
      craft(join(crafted, image));
    }
  });

  it.each(maintenance)('$name: as qemu-img does it, the structure intact', async ({ image, args, hits, guarded: [at, length] }) => {
    const dirs = await twinDirs(crafted);
    const bytes = async (dir: string) => (await readFile(join(dir, image))).subarray(at, at + length);
    const before = await bytes(crafted);
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(ours).toEqual(qemu);
    expect(ours.code).toBe(hits ? 1 : 0);
    if (hits) expect(ours.stderr).toContain(`qcow2: Marking image as corrupt: Preventing invalid write on metadata (overlaps with ${hits}); further corruption events will be suppressed\n`);
    expect(await bytes(dirs.ours)).toEqual(before);
    for (const dir of [dirs.ours, dirs.qemu]) {
      const info = (await qemuInfo(join(dir, image), 'qcow2')) as { 'format-specific': { data: { corrupt: boolean } } };
      expect(info['format-specific'].data.corrupt).toBe(hits !== '');
    }
  });
});
