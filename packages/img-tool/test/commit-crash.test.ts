// `commit` killed (SIGKILL) at random moments: the base and the top pass qemu-img check with
// leaks at most (exit 0 or 3, never 2), and the top's guest content is never changed (the base
// gets the top's data, synced, before the top lets go of its own).
import { execFileSync } from 'node:child_process';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runKilledAfter } from '../../../tools/test-support/killed-run.ts';
import { MiB, qemuImg, random, tempDir, writeImage } from './helpers.ts';

/** Run tessera-img commit and kill it after `delayMs` (or let it finish). */
async function commitKilledAfter(dir: string, delayMs: number): Promise<void> {
  await runKilledAfter(['commit', '-q', 'top.qcow2'], dir, delayMs);
}

describe('commit crash', () => {
  it('a kill at any moment leaves leaks at most and the top reading as before', async () => {
    const fixture = await tempDir();
    const img = (...args: string[]) => execFileSync('qemu-img', args, { cwd: fixture, stdio: 'ignore' });
    await writeImage(join(fixture, 'src.raw'), 8 * MiB, [[0, random(3 * MiB)], [5 * MiB, random(2 * MiB)]]);
    img('create', '-f', 'qcow2', 'base.qcow2', '8M');
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 4M', join(fixture, 'base.qcow2')], { stdio: 'ignore' });
    img('convert', '-f', 'raw', '-O', 'qcow2', '-B', 'base.qcow2', '-F', 'qcow2', 'src.raw', 'top.qcow2');
    img('convert', '-f', 'qcow2', '-O', 'raw', 'top.qcow2', 'expected.raw');

    const base = await tempDir();
    for (let i = 0; i < 12; i++) {
      const dir = join(base, `run${i}`);
      await cp(fixture, dir, { recursive: true });
      await commitKilledAfter(dir, 100 + Math.floor(Math.random() * 1400));
      for (const image of ['base.qcow2', 'top.qcow2']) {
        const check = await qemuImg(['check', '-U', join(dir, image)]);
        expect([0, 3], `${image} after run ${i}: ${check.stdout}${check.stderr}`).toContain(check.code);
      }
      const same = await qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', join(dir, 'expected.raw'), join(dir, 'top.qcow2')]);
      expect(same.stdout, `top after run ${i}`).toBe('Images are identical.\n');
    }
  }, 180_000);
});
