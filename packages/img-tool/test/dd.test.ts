// `dd`: the output qemu-img dd creates (size, format, content) from qcow2 (with a backing chain)
// and raw inputs, and qemu-img's messages and exit codes for bad operands.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MiB, both, configurations, qemuImg, random, tempDir, twinDirs, writeImage, type Configuration } from './helpers.ts';

async function fixture(): Promise<string> {
  const dir = await tempDir();
  const img = (...args: string[]) => execFileSync('qemu-img', args, { cwd: dir, stdio: 'ignore' });
  await writeImage(join(dir, 'in.raw'), MiB, [[1000, random(300_000)], [MiB - 5000, random(5000)]]);
  img('convert', '-f', 'raw', '-O', 'qcow2', 'in.raw', 'base.qcow2');
  img('create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2');
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 7 100k 50k', join(dir, 'top.qcow2')], { stdio: 'ignore' });
  return dir;
}

describe.each(configurations)('dd (%s)', (configuration: Configuration) => {
  let dir: string;
  beforeAll(async () => {
    dir = await fixture();
  });

  it.each([
    [['-f', 'raw'], 'in.raw'],
    [['-O', 'qcow2'], 'top.qcow2'],
    [['-f', 'qcow2', 'bs=4k', 'count=3', 'skip=2'], 'top.qcow2'],
    [['bs=1000'], 'top.qcow2'],
    [['-f', 'raw', 'bs=1.5k', 'count=100'], 'in.raw'],
    [['-O', 'qcow2', 'bs=64k', 'skip=3'], 'top.qcow2'],
    [['-f', 'raw', 'bs=512', 'count=0'], 'in.raw'],
    [['-f', 'raw', 'bs=512', 'skip=2048'], 'in.raw'],
    [['-f', 'raw', 'skip=10000'], 'in.raw'],
  ])('%j if=%s: output as qemu-img creates it', async (options, input) => {
    const dirs = await twinDirs(dir);
    const format = options.includes('-O') ? options[options.indexOf('-O') + 1]! : 'raw';
    const { qemu, ours } = await both(configuration, ['dd', ...options, `if=${input}`, 'of=out.img'], dirs);
    expect(ours).toEqual(qemu);
    const [q, o] = [join(dirs.qemu, 'out.img'), join(dirs.ours, 'out.img')];
    const info = async (file: string) => JSON.parse((await qemuImg(['info', '-f', format, '--output=json', file])).stdout)['virtual-size'] as number;
    expect(await info(o)).toBe(await info(q));
    expect((await qemuImg(['compare', '-f', format, '-F', format, q, o])).stdout).toBe('Images are identical.\n');
    if (format === 'qcow2') expect((await qemuImg(['check', o])).code).toBe(0);
  });

  it.each([
    [['dd']],
    [['dd', 'if=in.raw']],
    [['dd', 'of=o.raw']],
    [['dd', 'bs=0', 'if=in.raw', 'of=o']],
    [['dd', 'bs=x', 'if=in.raw', 'of=o']],
    [['dd', 'bs=3G', 'if=in.raw', 'of=o']],
    [['dd', 'bs=', 'if=in.raw', 'of=o']],
    [['dd', 'count=-1', 'if=in.raw', 'of=o']],
    [['dd', 'count=99999999999999999999', 'if=in.raw', 'of=o']],
    [['dd', 'skip=x', 'if=in.raw', 'of=o']],
    [['dd', 'foo=1', 'if=in.raw', 'of=o']],
    [['dd', 'foo', 'if=in.raw', 'of=o']],
    [['dd', 'if=missing', 'of=o']],
    [['dd', '-f', 'foo', 'if=in.raw', 'of=o']],
    [['dd', '-f', 'raw', '-O', 'foo', 'if=in.raw', 'of=o']],
    [['dd', '--image-opts', '-f', 'raw', 'if=x', 'of=y']],
    [['dd', '-f', 'raw', 'if=in.raw', 'of=/nonexistent-dir/x']],
  ])('%j: message and exit code as qemu-img', async (args) => {
    const dirs = await twinDirs(dir);
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(ours).toEqual(qemu);
  });
});
