// `resize`: qemu-img's messages and exit codes; images grown or shrunk here read as qemu-img's
// do (qemu-img compare), pass qemu-img check, and keep working (qemu-io writes past the old end).
import { execFileSync } from 'node:child_process';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { both, configurations, qemuImg, qemuIoFormat, tempDir, twinDirs, type Configuration } from './helpers.ts';

describe.each(configurations)('resize (%s)', (configuration: Configuration) => {
  let fixture: string;

  beforeAll(async () => {
    fixture = await tempDir();
    const image = (name: string, options: string, size: string, ...writes: string[]) => {
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', options, join(fixture, name), size]);
      if (writes.length) qemuIoFormat(join(fixture, name), 'qcow2', ...writes);
    };
    image('small.qcow2', 'cluster_size=512', '1M', 'write -P 1 0 1M');
    image('wide.qcow2', 'cluster_size=512,refcount_bits=64', '1M', 'write -P 2 0 1M');
    image('big.qcow2', 'cluster_size=65536', '1G', 'write -P 1 0 1M', 'write -P 2 600M 1M', 'write -c -P 3 900M 64k', 'write -z 700M 128k');
    image('ext.qcow2', 'cluster_size=65536,extended_l2=on', '8M', 'write -P 4 1000 3000', 'write -P 5 5M 100k');
    image('v2.qcow2', 'compat=0.10', '4M', 'write -P 6 0 1M');
    image('lazy.qcow2', 'lazy_refcounts=on,cluster_size=4096', '4M', 'write -P 7 100k 300k');
    image('snap2.qcow2', 'compat=0.10', '1M');
    execFileSync('qemu-img', ['snapshot', '-c', 's1', join(fixture, 'snap2.qcow2')]);
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', join(fixture, 'disk.raw'), '1M']);
    qemuIoFormat(join(fixture, 'disk.raw'), 'raw', 'write -P 9 0 1M');
    await writeFile(join(fixture, 'odd.raw'), new Uint8Array(100).fill(5));
  });

  /** The same command in twin dirs: same output; then the images compare equal and ours checks clean. */
  async function sameAsQemu(args: string[], file?: string, format = 'qcow2'): Promise<{ qemu: string; ours: string }> {
    const dirs = await twinDirs(fixture);
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(ours).toEqual(qemu);
    if (file !== undefined && qemu.code === 0) {
      const compare = await qemuImg(['compare', '-f', format, '-F', format, join(dirs.qemu, file), join(dirs.ours, file)]);
      expect(compare.stdout).toBe('Images are identical.\n');
      if (format === 'qcow2') {
        const check = await qemuImg(['check', join(dirs.ours, file)]);
        expect(check.code, check.stdout + check.stderr).toBe(0);
        expect(check.stdout).toContain('No errors were found on the image.');
      }
    }
    return dirs;
  }

  it.each([
    [['resize', 'small.qcow2', '2M']],
    [['resize', 'small.qcow2', '+1M']],
    [['resize', '--shrink', 'small.qcow2', '64K']],
    [['resize', '--shrink', 'small.qcow2', '-960K']],
    [['resize', '-q', '--shrink', 'small.qcow2', '1000k']],
    [['resize', 'big.qcow2', '5G']],
    [['resize', 'big.qcow2', '+100G']],
    [['resize', '--shrink', 'big.qcow2', '650M']],
    [['resize', '--shrink', 'big.qcow2', '1M']],
    [['resize', '--shrink', 'ext.qcow2', '4M']],
    [['resize', 'ext.qcow2', '3G']],
    [['resize', 'v2.qcow2', '6M']],
    [['resize', '--shrink', 'v2.qcow2', '512K']],
    [['resize', 'lazy.qcow2', '64M']],
    [['resize', '--shrink', 'lazy.qcow2', '200K']],
    [['resize', '-f', 'qcow2', 'small.qcow2', '1025k']],
    // L1 tables longer than one refcount block's range (256 and 64 clusters): one run all the same.
    [['resize', 'small.qcow2', '3G']],
    [['resize', 'wide.qcow2', '1G']],
  ])('%j: same output, same content, check clean', (args) => sameAsQemu(args, args.at(-2)).then(() => undefined));

  it.each([
    [['resize', 'small.qcow2', '512K']],
    [['resize', 'small.qcow2', '-512K']],
    [['resize', 'small.qcow2', '--', '-512K']],
    [['resize', 'small.qcow2', '-5G']],
    [['resize', '--shrink', 'small.qcow2', '1000']],
    [['resize', '--shrink', '--preallocation=full', 'small.qcow2', '512K']],
    [['resize', '--preallocation=bad', 'small.qcow2', '5M']],
    [['resize', 'small.qcow2']],
    [['resize', 'small.qcow2', 'abc']],
    [['resize', 'small.qcow2', '+abc']],
    [['resize', 'a', 'b', 'c']],
    [['resize', '-q', '1M']],
    [['resize', 'missing.qcow2', '1M']],
    [['resize', '-f', 'raw', '--image-opts', 'x', '1M']],
    [['resize', 'snap2.qcow2', '2M']],
  ])('%j: the same refusal', (args) => sameAsQemu(args).then(() => undefined));

  it('a grown image takes writes past the old end (qemu-io), then still compares equal', async () => {
    const dirs = await sameAsQemu(['resize', 'small.qcow2', '64M'], 'small.qcow2');
    for (const dir of [dirs.qemu, dirs.ours]) qemuIoFormat(join(dir, 'small.qcow2'), 'qcow2', 'write -P 8 60M 1M', 'write -P 9 1020k 8k');
    const compare = await qemuImg(['compare', join(dirs.qemu, 'small.qcow2'), join(dirs.ours, 'small.qcow2')]);
    expect(compare.stdout).toBe('Images are identical.\n');
    expect((await qemuImg(['check', join(dirs.ours, 'small.qcow2')])).code).toBe(0);
  });

  it.each(['2500k', '1M', '3M', '8M'])('an image with internal snapshots shrunk to %s: check clean, every snapshot intact', async (size) => {
    const dirs = await twinDirs(fixture);
    for (const dir of [dirs.qemu, dirs.ours]) {
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4k', 'snap.qcow2', '4M'], { cwd: dir });
      qemuIoFormat(join(dir, 'snap.qcow2'), 'qcow2', 'write -P 1 0 4M');
      execFileSync('qemu-img', ['snapshot', '-c', 'a', 'snap.qcow2'], { cwd: dir });
      qemuIoFormat(join(dir, 'snap.qcow2'), 'qcow2', 'write -P 2 1M 1M');
      execFileSync('qemu-img', ['snapshot', '-c', 'b', 'snap.qcow2'], { cwd: dir });
    }
    const args = ['resize', '--shrink', 'snap.qcow2', size];
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(ours).toEqual(qemu);
    const [theirs, mine] = [join(dirs.qemu, 'snap.qcow2'), join(dirs.ours, 'snap.qcow2')];
    const check = await qemuImg(['check', mine]);
    expect(check.code, check.stdout).toBe(0);
    expect((await qemuImg(['compare', theirs, mine])).stdout).toBe('Images are identical.\n');
    for (const snapshot of ['a', 'b']) {
      for (const path of [theirs, mine]) execFileSync('qemu-img', ['snapshot', '-a', snapshot, path]);
      expect((await qemuImg(['compare', theirs, mine])).stdout).toBe('Images are identical.\n');
      expect((await qemuImg(['check', mine])).code).toBe(0);
    }
  });

  it.each(['data_file=x.raw', 'data_file=x.raw,data_file_raw=on'])('-o %s: the data file follows the size, as with qemu-img', async (options) => {
    const dirs = await twinDirs(fixture);
    for (const dir of [dirs.qemu, dirs.ours]) {
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', options, 'df.qcow2', '4M'], { cwd: dir });
      execFileSync('qemu-io', ['-c', 'write -P 1 0 4M', 'df.qcow2'], { cwd: dir, stdio: 'ignore' });
    }
    for (const args of [['resize', 'df.qcow2', '8M'], ['resize', '--shrink', 'df.qcow2', '2M']]) {
      const { qemu, ours } = await both(configuration, args, dirs);
      expect(ours).toEqual(qemu);
      for (const file of ['df.qcow2', 'x.raw']) {
        expect((await stat(join(dirs.ours, file))).size).toBe((await stat(join(dirs.qemu, file))).size);
      }
      const map = async (dir: string) => (await qemuImg(['map', '--output=json', 'df.qcow2'], dir)).stdout;
      expect(await map(dirs.ours)).toBe(await map(dirs.qemu));
      expect((await qemuImg(['check', 'df.qcow2'], dirs.ours)).code).toBe(0);
    }
  });

  it('a shrunk image is cut after its last used cluster, as qemu-img cuts it', async () => {
    const dirs = await sameAsQemu(['resize', '--shrink', 'small.qcow2', '64K'], 'small.qcow2');
    const [theirs, mine] = await Promise.all([stat(join(dirs.qemu, 'small.qcow2')), stat(join(dirs.ours, 'small.qcow2'))]);
    expect(mine.size).toBe(theirs.size);
  });

  it.each([
    [['resize', '-f', 'raw', 'disk.raw', '3M']],
    [['resize', '-f', 'raw', '--shrink', 'disk.raw', '1000']],
    [['resize', '-f', 'raw', 'disk.raw', '-100K']],
    [['resize', '-f', 'raw', '--preallocation=full', 'disk.raw', '+1M']],
    [['resize', '-f', 'raw', 'odd.raw', '1M']],
    [['resize', '-f', 'raw', 'odd.raw', '1000']],
  ])('raw %j: same output, same file', async (args) => {
    const file = args.at(-2)!;
    const dirs = await sameAsQemu(args, file, 'raw');
    const [theirs, mine] = await Promise.all([stat(join(dirs.qemu, file)), stat(join(dirs.ours, file))]);
    expect(mine.size).toBe(theirs.size);
    expect(mine.blocks).toBeGreaterThanOrEqual(Math.min(theirs.blocks, mine.size / 512));
  });
});
