// `bench`: the lines qemu-img bench prints (not the timing), that -w really writes the pattern
// where the requests go, and qemu-img's validation messages and exit codes.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { both, configurations, qemuImg, tempDir, twinDirs, type Configuration, type RunResult } from './helpers.ts';

/** The timing differs from run to run: `X.XXX` in its place. */
function withoutTiming(result: RunResult): RunResult {
  return { ...result, stdout: result.stdout.replace(/Run completed in \d+\.\d{3} seconds\./, 'Run completed in X.XXX seconds.') };
}

describe.each(configurations)('bench (%s)', (configuration: Configuration) => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
    execFileSync('qemu-img', ['create', '-f', 'qcow2', 'b.qcow2', '1M'], { cwd: dir, stdio: 'ignore' });
    execFileSync('qemu-img', ['create', '-f', 'raw', 'r.raw', '1M'], { cwd: dir, stdio: 'ignore' });
  });

  it.each([
    [['-c', '100', 'b.qcow2']],
    [['-c', '300', '-q', 'b.qcow2']],
    [['-c', '0', 'b.qcow2']],
    [['-c', '0x10', '-d', '0x10', 'b.qcow2']],
    [['-c', '10', '-d', '4', '-s', '512', '-S', '1024', '-o', '4096', '-w', '--pattern=7', 'b.qcow2']],
    [['-c', '10', '-d', '2', '-w', '--flush-interval=3', 'b.qcow2']],
    [['-c', '10', '-d', '2', '-w', '--flush-interval=3', '--no-drain', 'b.qcow2']],
    [['-c', '2', '-S', '0', '-s', '0', 'b.qcow2']],
    [['-c', '5', '-f', 'raw', '-t', 'none', '-i', 'native', 'r.raw']],
    [['-c', '1', '-n', '-U', '-i', 'io_uring', 'b.qcow2']],
    [['-c', '1', '-n', 'b.qcow2']],
    [['-c', '1', '-n', '-t', 'writeback', 'b.qcow2']],
    [['-c', '1', '-n', '-i', 'threads', '-t', 'none', 'b.qcow2']],
    [['-c', '1', '-n', '-t', 'directsync', 'b.qcow2']],
    [['-c', '1', '-U', '-i', 'io_uring', 'b.qcow2']],
    [['-c', '10', '-s', '1M', '-o', '512k', 'b.qcow2']],
    [['-c', '3', '-o', '2M', 'b.qcow2']],
    [['-c', '10', '--flush-interval=3', 'b.qcow2']],
    [['-c', '10', '-w', '--flush-interval=3', 'b.qcow2']],
    [['-c', 'x', 'b.qcow2']],
    [['-c', '-1', 'b.qcow2']],
    [['-d', 'x', 'b.qcow2']],
    [['-s', 'x', 'b.qcow2']],
    [['-s', '3G', 'b.qcow2']],
    [['-S', 'x', 'b.qcow2']],
    [['-o', '-1', 'b.qcow2']],
    [['--pattern=300', '-w', 'b.qcow2']],
    [['--flush-interval=x', '-w', 'b.qcow2']],
    [['-i', 'foo', 'b.qcow2']],
    [['-i', 'native', '-c', '1', 'b.qcow2']],
    [['-t', 'foo', 'b.qcow2']],
    [[]],
    [['a', 'b']],
    [['-c', '1', 'nope']],
    [['-c', '1', '--image-opts', '-f', 'raw', 'r.raw']],
  ])('%j: output (but the timing), messages and exit code as qemu-img', async (args) => {
    const dirs = await twinDirs(dir);
    const { qemu, ours } = await both(configuration, ['bench', ...args], dirs);
    expect(withoutTiming(ours)).toEqual(withoutTiming(qemu));
  });

  it('-w writes the pattern where the requests go, wrapping at the end of the image', async () => {
    const dirs = await twinDirs(dir);
    // 40 requests of 48 KiB every 64 KiB from 640 KiB: past the 1 MiB end they wrap to 0.
    const args = ['bench', '-w', '-c', '40', '-d', '8', '-s', '48k', '-S', '64k', '-o', '640k', '--pattern=0xa5', 'b.qcow2'];
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(withoutTiming(ours)).toEqual(withoutTiming(qemu));
    const [q, o] = [join(dirs.qemu, 'b.qcow2'), join(dirs.ours, 'b.qcow2')];
    expect((await qemuImg(['compare', q, o])).stdout).toBe('Images are identical.\n');
    expect((await qemuImg(['check', o])).code).toBe(0);
    const pattern = execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'read -P 0xa5 0 48k', '-c', 'read -P 0 48k 16k', o], { encoding: 'utf8' });
    expect(pattern).not.toContain('Pattern verification failed');
  });
});
