// `check` from the command line: options, messages and exit codes as qemu-img's, for clean,
// leaking and unsupported images; repairs on twin copies give qemu-img's output.
import { copyFile, open, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { setRefcount } from '../../modules/block-qcow2/test/qcow2-edit.ts';
import { MiB, both, configurations, qemuImg, random, tempDir, tool, twinDirs, writeImage } from './helpers.ts';

describe.each(configurations)('check (%s)', (configuration) => {
  let dir: string;

  beforeAll(async () => {
    dir = await tempDir();
    await writeImage(join(dir, 'data.raw'), 4 * MiB, [
      [0, random(300_000)],
      [2 * MiB + 512, random(70_000)],
    ]);
    expect((await qemuImg(['convert', '-O', 'qcow2', '-o', 'cluster_size=4k', 'data.raw', 'clean.qcow2'], dir)).code).toBe(0);
    // A leak: two clusters past the end, the last one counted.
    expect((await qemuImg(['convert', '-O', 'qcow2', '-o', 'cluster_size=4k', 'data.raw', 'leaky.qcow2'], dir)).code).toBe(0);
    const size = (await stat(join(dir, 'leaky.qcow2'))).size;
    await truncate(join(dir, 'leaky.qcow2'), size + 8192);
    setRefcount(join(dir, 'leaky.qcow2'), size / 4096 + 1, 1);
  });

  it.each([
    [[]],
    [['-q']],
    [['--output=json']],
    [['--output=json', '-q']],
    [['-f', 'qcow2', '-T', 'none', '-U']],
    [['--output', 'human', '--force-share']],
  ])('a clean image with %j: qemu-img output, exit 0', async (args) => {
    const { qemu, ours } = await both(configuration, ['check', ...args, 'clean.qcow2'], dir);
    expect(ours).toEqual(qemu);
    expect(ours.code).toBe(0);
  });

  it.each([
    [['-r', 'foo', 'clean.qcow2']],
    [['--output=xml', 'clean.qcow2']],
    [['-T', 'bad', 'clean.qcow2']],
    [['-U', '-r', 'leaks', 'clean.qcow2']],
    [[]],
    [['clean.qcow2', 'other.qcow2']],
    [['missing.qcow2']],
    [['-f', 'raw', 'clean.qcow2']],
    [['data.raw']],
    [['--output=json', 'data.raw']],
  ])('%j: the same error and exit code as qemu-img', async (args) => {
    const { qemu, ours } = await both(configuration, ['check', ...args], dir);
    expect(ours).toEqual(qemu);
    expect(ours.code).not.toBe(0);
  });

  it('leaks: exit 3, the finding on stderr, JSON with "leaks"', async () => {
    for (const args of [['check', 'leaky.qcow2'], ['check', '--output=json', 'leaky.qcow2'], ['check', '-q', 'leaky.qcow2']]) {
      const { qemu, ours } = await both(configuration, args, dir);
      expect(ours).toEqual(qemu);
      expect(ours.code).toBe(3);
    }
  });

  it.each([['leaks'], ['all']])('-r %s repairs the leak as qemu-img does; the image is clean after', async (mode) => {
    const twins = await twinDirs(dir);
    for (const output of ['human', 'json']) {
      await copyFile(join(dir, 'leaky.qcow2'), join(twins.qemu, 'leaky.qcow2'));
      await copyFile(join(dir, 'leaky.qcow2'), join(twins.ours, 'leaky.qcow2'));
      const { qemu, ours } = await both(configuration, ['check', '-r', mode, `--output=${output}`, 'leaky.qcow2'], twins);
      expect(ours).toEqual(qemu);
      expect(ours.code).toBe(0);
      expect((await qemuImg(['check', 'leaky.qcow2'], twins.ours)).code).toBe(0);
    }
  });

  it('sizes that are not whole sectors: a qcow2 virtual size is still checked, a raw file has no check', async () => {
    expect((await qemuImg(['create', '-q', '-f', 'qcow2', 'odd.qcow2', '1k'], dir)).code).toBe(0);
    const handle = await open(join(dir, 'odd.qcow2'), 'r+');
    const size = Buffer.alloc(8);
    size.writeBigUInt64BE(1000n);
    await handle.write(size, 0, 8, 24);
    await handle.close();
    await writeFile(join(dir, 'odd.raw'), 'abc');
    for (const args of [['check', 'odd.qcow2'], ['check', '--output=json', 'odd.qcow2'], ['check', 'odd.raw']]) {
      const { qemu, ours } = await both(configuration, args, dir);
      expect(ours).toEqual(qemu);
    }
  });

  it('an image written here checks clean with both tools', async () => {
    expect((await tool(configuration, ['convert', '-O', 'qcow2', '-o', 'cluster_size=512', 'data.raw', `ours-${configuration}.qcow2`], dir)).code).toBe(0);
    const { qemu, ours } = await both(configuration, ['check', `ours-${configuration}.qcow2`], dir);
    expect(ours).toEqual(qemu);
    expect(ours.stdout).toContain('No errors were found on the image.');
  });
});
