// `measure`: the same numbers, JSON and messages as qemu-img, for new images (--size) of every
// cluster size and refcount width, and for partly allocated sources (qcow2 with a backing chain,
// compressed and zero clusters; sparse raw).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { both, configurations, qemuIoFormat, tempDir, type Configuration } from './helpers.ts';

const NEW_IMAGES: string[][] = [];
for (const size of ['0', '7777777', '100G', '3T']) {
  for (const options of ['cluster_size=512', 'cluster_size=4k,refcount_bits=1', 'cluster_size=2M,refcount_bits=64', 'extended_l2=on']) {
    NEW_IMAGES.push(['measure', '-O', 'qcow2', '--size', size, '-o', options]);
  }
}

describe.each(configurations)('measure (%s)', (configuration: Configuration) => {
  let dir: string;

  beforeAll(async () => {
    dir = await tempDir();
    const create = (...args: string[]) => execFileSync('qemu-img', ['create', '-q', ...args], { cwd: dir });
    create('-f', 'qcow2', '-o', 'cluster_size=4k', 'base.qcow2', '20M');
    qemuIoFormat(join(dir, 'base.qcow2'), 'qcow2', 'write -P 1 0 100k', 'write -z 1M 1M', 'write -P 3 5M 3k', 'write -c -P 4 8M 64k');
    create('-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2');
    qemuIoFormat(join(dir, 'top.qcow2'), 'qcow2', 'write -P 5 12M 200k', 'write -z 0 64k');
    create('-f', 'raw', 'sparse.raw', '6M');
    // Data in the first cluster: qemu counts the block its raw creation allocates there, which reads as zeroes.
    qemuIoFormat(join(dir, 'sparse.raw'), 'raw', 'write -P 5 0 1k', 'write -P 6 1M 10k', 'write -P 7 4M 1M');
  });

  async function same(args: string[]): Promise<void> {
    const { qemu, ours } = await both(configuration, args, dir);
    expect(ours).toEqual(qemu);
  }

  it.each(NEW_IMAGES)('%s %s %s %s %s %s %s', async (...args) => same(args));

  it.each([
    [['measure', '--size', '1G']],
    [['measure', '-O', 'qcow2', '--size', '1G', '-o', 'compat=0.10']],
    [['measure', '-O', 'qcow2', '--size', '1', '-o', 'cluster_size=64k']],
    [['measure', '-O', 'raw', '--size', '1M', '--output=json']],
    [['measure', '-O', 'qcow2', '--size', '1G', '--output=json']],
    [['measure', '-O', 'qcow2', '--size', '1G', '-o', 'preallocation=full']],
    [['measure', '-O', 'qcow2', '--size', '1G', '-o', 'preallocation=metadata,lazy_refcounts=on']],
    [['measure', '-O', 'qcow2', '--size', '1G', '-o', 'size=2M']],
    [['measure', '-O', 'qcow2', 'base.qcow2']],
    [['measure', '-O', 'qcow2', 'top.qcow2']],
    [['measure', '-O', 'qcow2', '--output=json', 'top.qcow2']],
    [['measure', '-O', 'qcow2', '-o', 'compat=0.10', '--output=json', 'top.qcow2']],
    [['measure', '-O', 'qcow2', '-o', 'cluster_size=1M', 'top.qcow2']],
    [['measure', '-O', 'qcow2', '-o', 'cluster_size=512,extended_l2=off', 'top.qcow2']],
    [['measure', '-O', 'qcow2', '-o', 'preallocation=falloc', 'top.qcow2']],
    [['measure', '-O', 'raw', 'top.qcow2']],
    [['measure', '-O', 'qcow2', '-f', 'raw', 'sparse.raw']],
    [['measure', '-O', 'qcow2', '-f', 'raw', '--output=json', 'sparse.raw']],
  ])('%j', (args) => same(args));

  it.each([
    [['measure']],
    [['measure', '-O', 'qcow2']],
    [['measure', '--size', '1G', 'top.qcow2']],
    [['measure', '-f', 'qcow2', '--size', '1G']],
    [['measure', '--size', '1G', '-O', 'qcow2', 'a', 'b']],
    [['measure', '--size', '-1', '-O', 'qcow2']],
    [['measure', '--size', '1G', '--output=xml']],
    [['measure', '--size', '1G', '-O', 'nosuch']],
    [['measure', '--size', '1G', '-O', 'qcow2', '-o', 'foo=1']],
    [['measure', '--size', '1G', '-O', 'raw', '-o', 'foo=1']],
    [['measure', '--size', '1G', '-O', 'qcow2', '-o', 'cluster_size=3k']],
    [['measure', '--size', '1G', '-O', 'qcow2', '-o', 'compat=0.10,refcount_bits=1']],
    [['measure', '--size', '1G', '-O', 'qcow2', '-o', 'preallocation=xx']],
    [['measure', '-O', 'qcow2', 'missing.qcow2']],
  ])('refused: %j', (args) => same(args));
});
