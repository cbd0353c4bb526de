// Writes to an image with an internal snapshot copy every cluster and L2 table they touch. A
// writer killed (SIGKILL) at random moments leaves at most leaked clusters, and the snapshot
// still holds the bytes it was taken with. Bounded: a few rounds.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable } from '../../../../tools/test-support/executables.ts';

let dir: string;
const SIZE = 16 * 2 ** 20;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-snapshot-crash-'));
  writeFileSync(join(dir, 'first.raw'), randomBytes(SIZE));
  writeFileSync(join(dir, 'second.raw'), randomBytes(SIZE));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const img = (args: string[]) => execFileSync(process.execPath, [executable('img-tool', 'modular'), ...args], { cwd: dir, encoding: 'utf8' });
const qemuImg = (args: string[]) => spawnSync('qemu-img', args, { cwd: dir, encoding: 'utf8' });

/** `convert -n` of second.raw into the image (rate-limited: about 1.5 s), killed after `afterMs`; true when killed first. */
function killedWriter(image: string, afterMs: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [executable('img-tool', 'modular'), 'convert', '-n', '-r', '10M', '-O', 'qcow2', 'second.raw', image], {
      cwd: dir,
      stdio: 'ignore',
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(signal === 'SIGKILL' || code !== 0);
    });
  });
}

describe('crash consistency with internal snapshots', () => {
  it.each([['cluster_size=4k'], ['cluster_size=16k,extended_l2=on']])(
    '-o %s: killed writers leave leaks at most, and the snapshot intact',
    async (options) => {
      let killed = 0;
      const rounds = 4;
      for (let round = 0; round < rounds; round++) {
        const image = `crash-${options.replace(/\W+/g, '_')}-${round}.qcow2`;
        img(['create', '-q', '-f', 'qcow2', '-o', options, image, String(SIZE)]);
        img(['convert', '-n', '-O', 'qcow2', 'first.raw', image]);
        img(['snapshot', '-c', 'base', image]);
        if (await killedWriter(image, 150 + Math.floor(Math.random() * 1200))) killed++;
        const check = qemuImg(['check', image]);
        expect([0, 3], `round ${round}: ${check.stdout}${check.stderr}`).toContain(check.status);
        expect(check.stdout + check.stderr).not.toMatch(/ERROR/);
        // The survivor takes the writes again and ends up right; the snapshot brings back the first content.
        img(['convert', '-n', '-O', 'qcow2', 'second.raw', image]);
        expect(qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', 'second.raw', image]).stdout).toBe('Images are identical.\n');
        img(['snapshot', '-a', 'base', image]);
        const after = qemuImg(['check', image]);
        expect([0, 3], after.stdout).toContain(after.status);
        expect(after.stdout + after.stderr).not.toMatch(/ERROR/);
        expect(qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', 'first.raw', image]).stdout).toBe('Images are identical.\n');
      }
      expect(killed).toBeGreaterThanOrEqual(rounds - 1);
    },
    120_000,
  );
});
