// `compare -s` on qcow2 images whose content matches but whose allocation differs (zero clusters,
// written zeroes, unallocated clusters, backing chains): qemu-img's verdict, offset and exit code.
import { execFileSync } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { both, configurations, tempDir, type Configuration } from './helpers.ts';

const formatOf = (name: string) => (name.endsWith('.raw') ? 'raw' : 'qcow2');

describe.each(configurations)('compare -s on qcow2 (%s)', (configuration: Configuration) => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
    const img = (...args: string[]) => execFileSync('qemu-img', args, { cwd: dir, stdio: 'ignore' });
    const io = (file: string, format: string, ...commands: string[]) =>
      execFileSync('qemu-io', ['-f', format, ...commands.flatMap((c) => ['-c', c]), join(dir, file)], { stdio: 'ignore' });
    img('create', '-f', 'qcow2', 'a.qcow2', '1M');
    io('a.qcow2', 'qcow2', 'write -P 1 64k 64k');
    const variant = async (name: string, ...commands: string[]) => {
      await copyFile(join(dir, 'a.qcow2'), join(dir, name));
      io(name, 'qcow2', ...commands);
    };
    await variant('zero-cluster.qcow2', 'write -z 256k 64k');
    await variant('zero-data.qcow2', 'write -P 0 512k 64k');
    await variant('zero-partial.qcow2', 'write -P 0 512k 4k');
    await variant('tail.qcow2', 'write -P 0 960k 64k');
    img('create', '-f', 'qcow2', '-o', 'compat=0.10', 'v2.qcow2', '1M');
    io('v2.qcow2', 'qcow2', 'write -P 1 64k 64k');
    img('create', '-f', 'qcow2', '-o', 'cluster_size=4096', 'small.qcow2', '1M');
    io('small.qcow2', 'qcow2', 'write -P 1 64k 64k');
    img('create', '-f', 'raw', 'r.raw', '1M');
    io('r.raw', 'raw', 'write -P 1 64k 64k');
    img('create', '-f', 'qcow2', '-b', 'a.qcow2', '-F', 'qcow2', 'over-a.qcow2');
    img('create', '-f', 'qcow2', '-b', 'zero-cluster.qcow2', '-F', 'qcow2', 'over-zero.qcow2');
    io('over-zero.qcow2', 'qcow2', 'write -P 1 64k 64k');
    img('create', '-f', 'qcow2', 'empty.qcow2', '1M');
    img('create', '-f', 'qcow2', '-b', 'a.qcow2', '-F', 'qcow2', 'over-a-copy.qcow2');
    io('over-a-copy.qcow2', 'qcow2', 'write -P 1 64k 64k');
    // Three deep: zero clusters and data in the middle, over a.qcow2's data.
    img('create', '-f', 'qcow2', '-b', 'over-a.qcow2', '-F', 'qcow2', 'over-over-a.qcow2');
    io('over-a.qcow2', 'qcow2', 'write -z 0 64k', 'write -P 2 640k 4k');
    img('create', '-f', 'qcow2', '-b', 'over-over-a.qcow2', '-F', 'qcow2', 'third.qcow2');
    io('third.qcow2', 'qcow2', 'write -P 2 640k 4k');
    img('create', '-f', 'qcow2', '-o', 'extended_l2=on', 'ext.qcow2', '1M');
    io('ext.qcow2', 'qcow2', 'write -P 1 64k 64k');
  });

  it.each([
    ['a.qcow2', 'a.qcow2'],
    ['a.qcow2', 'zero-cluster.qcow2'],
    ['zero-cluster.qcow2', 'a.qcow2'],
    ['a.qcow2', 'zero-data.qcow2'],
    ['a.qcow2', 'zero-partial.qcow2'],
    // Not zero-data vs zero-partial: qemu's answer there depends on whether the file system has
    // written back the partial cluster's zero tail yet (it asks the file for holes).
    ['a.qcow2', 'tail.qcow2'],
    ['a.qcow2', 'v2.qcow2'],
    ['a.qcow2', 'small.qcow2'],
    ['a.qcow2', 'ext.qcow2'],
    ['a.qcow2', 'r.raw'],
    ['r.raw', 'a.qcow2'],
    ['a.qcow2', 'over-a.qcow2'],
    ['over-a.qcow2', 'a.qcow2'],
    ['zero-cluster.qcow2', 'over-zero.qcow2'],
    ['over-a.qcow2', 'over-zero.qcow2'],
    ['over-a.qcow2', 'over-a-copy.qcow2'],
    ['a.qcow2', 'over-a-copy.qcow2'],
    ['empty.qcow2', 'a.qcow2'],
    ['over-over-a.qcow2', 'third.qcow2'],
    ['third.qcow2', 'over-a.qcow2'],
    ['over-over-a.qcow2', 'a.qcow2'],
  ])('%s vs %s: verdict, message and exit code as qemu-img', async (first, second) => {
    for (const options of [['-s'], ['-s', '-q', '-f', formatOf(first), '-F', formatOf(second)]]) {
      const { qemu, ours } = await both(configuration, ['compare', ...options, first, second], dir);
      expect(ours).toEqual(qemu);
    }
  });
});
