// Crash consistency of resize and amend: the tool is killed with SIGKILL at random moments while
// it grows (L1 table relocated), shrinks (clusters, L2 tables and refcount blocks freed) or
// changes the refcount width; qemu-img check then finds leaks at most (exit 0 or 3), never
// corruption, and the guest bytes that stay inside the size are the ones written before.
import { execFileSync } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runKilledAfter } from '../../../tools/test-support/killed-run.ts';
import { qemuImg, tempDir } from './helpers.ts';

const ROUNDS = 8;

/** Run the tool, killed after `delay` ms if it still runs; resolves to how long it ran. */
async function runKilled(args: readonly string[], delay: number, cwd: string): Promise<number> {
  return (await runKilledAfter(args, cwd, delay)).ranMs;
}

describe('resize and amend killed at random moments', () => {
  let fixture: string;

  beforeAll(async () => {
    fixture = await tempDir();
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', 'base.qcow2', '64M'], { cwd: fixture });
    execFileSync('qemu-io', ['-c', 'write -P 1 0 2M', '-c', 'write -P 2 30M 2M', '-c', 'write -P 3 60M 1M', 'base.qcow2'], { cwd: fixture, stdio: 'ignore' });
    // 512-byte clusters: grown to 3G, the L1 table takes more clusters than one refcount block covers.
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512', 'small.qcow2', '64M'], { cwd: fixture });
    execFileSync('qemu-io', ['-c', 'write -P 1 0 2M', '-c', 'write -P 2 30M 2M', '-c', 'write -P 3 60M 1M', 'small.qcow2'], { cwd: fixture, stdio: 'ignore' });
  });

  // With each command, the reads that must still hold: a shrink may have dropped the clusters past
  // its new end before it recorded the new size (as QEMU orders it too), so only what it keeps.
  const ALL = ['read -P 1 0 1M', 'read -P 2 30M 2M', 'read -P 3 60M 1M'];
  it.each([
    ['base.qcow2', ['resize', '--shrink', 'x.qcow2', '1M'], ['read -P 1 0 1M']],
    ['base.qcow2', ['resize', 'x.qcow2', '8G'], ALL],
    ['small.qcow2', ['resize', 'x.qcow2', '3G'], ALL],
    ['base.qcow2', ['amend', '-o', 'refcount_bits=64', 'x.qcow2'], ALL],
    ['base.qcow2', ['amend', '-o', 'compat=0.10', 'x.qcow2'], ALL],
  ])('%s: %j', async (base, args, reads) => {
    const dir = await tempDir();
    const image = join(dir, 'x.qcow2');
    // One whole run tells how long it takes (start-up included); the kills land in its second half.
    await copyFile(join(fixture, base), image);
    const whole = await runKilled(args, 60_000, dir);
    for (let round = 0; round < ROUNDS; round++) {
      await copyFile(join(fixture, base), image);
      await runKilled(args, whole * (0.5 + Math.random() * 0.5), dir);
      const check = await qemuImg(['check', image]);
      expect([0, 3], `${check.stdout}${check.stderr}`).toContain(check.code);
      const out = execFileSync('qemu-io', ['-f', 'qcow2', ...reads.flatMap((r) => ['-c', r]), image]).toString();
      expect(out).not.toContain('Pattern verification failed');
    }
  });
});
