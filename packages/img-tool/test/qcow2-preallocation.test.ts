// qcow2 `create -o preallocation=…` and `resize --preallocation=…`: images qemu-img reads as it
// reads its own, laid out byte for byte as qemu-img lays them out (`metadata` within one refcount
// block's reach); `falloc` and `full` write zeroes into every cluster (Node has no fallocate).
import { execFileSync } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { both, configurations, qemuImg, tempDir, type Configuration } from './helpers.ts';

async function qemuJson(args: string[], cwd?: string): Promise<unknown> {
  const result = await qemuImg(args, cwd);
  if (result.code !== 0) throw new Error(`qemu-img ${args.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout) as unknown;
}

async function info(path: string): Promise<Record<string, unknown>> {
  const json = (await qemuJson(['info', '--output=json', path])) as Record<string, unknown>;
  for (const key of ['filename', 'actual-size', 'full-backing-filename']) delete json[key];
  return json;
}

async function expectCleanAndEqual(theirs: string, mine: string): Promise<void> {
  const check = await qemuImg(['check', mine]);
  expect(check.code, check.stdout + check.stderr).toBe(0);
  expect(check.stdout).toContain('No errors were found on the image.');
  expect((await qemuImg(['compare', theirs, mine])).stdout).toBe('Images are identical.\n');
  expect(await info(mine)).toEqual(await info(theirs));
}

describe.each(configurations)('qcow2 preallocation (%s)', (configuration: Configuration) => {
  async function create(options: string, size: string, extra: string[] = []): Promise<{ theirs: string; mine: string }> {
    const [qemuDir, ourDir] = [await tempDir(), await tempDir()];
    for (const dir of [qemuDir, ourDir]) execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', 'base.qcow2', '6M'], { cwd: dir });
    const args = ['create', '-f', 'qcow2', '-o', options, ...extra, 'p.qcow2', size];
    const { qemu, ours } = await both(configuration, args, { qemu: qemuDir, ours: ourDir });
    expect(ours).toEqual(qemu);
    return { theirs: join(qemuDir, 'p.qcow2'), mine: join(ourDir, 'p.qcow2') };
  }

  it.each([
    ['preallocation=metadata', '6M'],
    ['preallocation=metadata,cluster_size=4096', '6M'],
    ['preallocation=metadata,extended_l2=on', '6M'],
    ['preallocation=metadata,cluster_size=2M', '5M'],
    ['preallocation=metadata,compat=0.10,refcount_bits=16', '3M'],
    ['preallocation=metadata,lazy_refcounts=on', '3M'],
    ['preallocation=full', '6M'],
    ['preallocation=falloc', '1000000'],
    ['preallocation=full,cluster_size=4096', '20M'],
    ['preallocation=falloc,extended_l2=on', '2M'],
    ['preallocation=full,cluster_size=512', '6M'],
    ['preallocation=full,cluster_size=4096,refcount_bits=64', '6M'],
    ['preallocation=falloc,compat=0.10,cluster_size=1024', '3M'],
  ])('%s %s: byte for byte as qemu-img', async (options, size) => {
    const { theirs, mine } = await create(options, size);
    await expectCleanAndEqual(theirs, mine);
    expect(Buffer.compare(await readFile(mine), await readFile(theirs))).toBe(0);
    expect(await qemuJson(['map', '--output=json', mine])).toEqual(await qemuJson(['map', '--output=json', theirs]));
  });

  it.each([
    ['preallocation=falloc', '6M'],
    ['preallocation=metadata,cluster_size=512', '3M'],
    // Same bytes; qemu-img writes the partial last cluster, so its map shows it as data there.
    ['preallocation=metadata', '1000000'],
  ])('%s %s: every cluster allocated, check clean, same content', async (options, size) => {
    const { theirs, mine } = await create(options, size);
    await expectCleanAndEqual(theirs, mine);
    const [ourStat, theirStat] = await Promise.all([stat(mine), stat(theirs)]);
    expect(ourStat.size).toBe(theirStat.size);
    if (!options.includes('metadata')) expect(ourStat.blocks * 512).toBeGreaterThanOrEqual(Number(execFileSync('qemu-img', ['info', '--output=json', mine]).toString().match(/"virtual-size": (\d+)/)![1]));
  });

  it.each([
    ['preallocation=metadata', ['-b', 'base.qcow2', '-F', 'qcow2']],
    ['preallocation=metadata,extended_l2=on', ['-b', 'base.qcow2', '-F', 'qcow2']],
    ['preallocation=bogus', []],
  ])('%s %j: qemu-img\'s verdict', async (options, extra) => {
    const { theirs, mine } = await create(options, '6M', extra);
    const check = await qemuImg(['check', mine]);
    if ((await qemuImg(['check', theirs])).code === 0) {
      expect(check.code).toBe(0);
      expect(await qemuJson(['map', '--output=json', mine])).toEqual(await qemuJson(['map', '--output=json', theirs]));
    }
  });

  it.each(['metadata', 'falloc', 'full'])('resize --preallocation=%s grows like qemu-img', async (mode) => {
    const [qemuDir, ourDir] = [await tempDir(), await tempDir()];
    for (const dir of [qemuDir, ourDir]) {
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', 'r.qcow2', '1M'], { cwd: dir });
      execFileSync('qemu-io', ['-c', 'write -P 3 0 1M', 'r.qcow2'], { cwd: dir, stdio: 'ignore' });
    }
    const { qemu, ours } = await both(configuration, ['resize', `--preallocation=${mode}`, 'r.qcow2', '5M'], { qemu: qemuDir, ours: ourDir });
    expect(ours).toEqual(qemu);
    await expectCleanAndEqual(join(qemuDir, 'r.qcow2'), join(ourDir, 'r.qcow2'));
    // The grown part is allocated: qemu-img map shows it mapped.
    const map = (await qemuJson(['map', '--output=json', join(ourDir, 'r.qcow2')])) as { start: number; length: number; offset?: number }[];
    const mapped = map.filter((entry) => entry.offset !== undefined).reduce((sum, entry) => sum + entry.length, 0);
    expect(mapped).toBe(5 * 1024 * 1024);
  });
});
