// `check -r all` rebuilding a refcount structure, killed (SIGKILL) at random moments: the image is
// either still the damaged one, exactly as qemu-img check saw it before, or repaired with leaks at
// most; its guest bytes are intact either way. Bounded: a few rounds.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKilledAfter } from '../../../../tools/test-support/killed-run.ts';
import { hostCluster, setRefcount } from './qcow2-edit.ts';

let dir: string;
const ROUNDS = 8;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-check-crash-'));
  writeFileSync(join(dir, 'data.raw'), randomBytes(16 * 2 ** 20));
  // 512-byte clusters: hundreds of refcount blocks to write, so the kills can land in the rebuild.
  execFileSync('qemu-img', ['convert', '-O', 'qcow2', '-o', 'cluster_size=512', 'data.raw', 'damaged.qcow2'], { cwd: dir });
  setRefcount(join(dir, 'damaged.qcow2'), hostCluster(join(dir, 'damaged.qcow2'), 4), 0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const qemuCheck = (image: string) => spawnSync('qemu-img', ['check', image], { cwd: dir, encoding: 'utf8' });
/** The refcount table's offset, from the header. */
const tableOffset = (image: string) => readFileSync(join(dir, image)).readBigUInt64BE(48);

describe('check -r all killed while it rebuilds the refcount structure', () => {
  it('leaves the damaged image as it was, or a repaired one with leaks at most', async () => {
    const damaged = qemuCheck('damaged.qcow2');
    expect(damaged.status).toBe(2);
    expect(damaged.stderr).toContain('ERROR cluster');
    copyFileSync(join(dir, 'damaged.qcow2'), join(dir, 'whole.qcow2'));
    const whole = await runKilledAfter(['check', '-r', 'all', 'whole.qcow2'], dir, 60_000);
    expect(whole.killed).toBe(false);
    expect(tableOffset('whole.qcow2')).not.toBe(tableOffset('damaged.qcow2'));

    for (let round = 0; round < ROUNDS; round++) {
      const image = `round-${round}.qcow2`;
      copyFileSync(join(dir, 'damaged.qcow2'), join(dir, image));
      await runKilledAfter(['check', '-r', 'all', image], dir, whole.ranMs * (0.3 + (0.7 * round) / ROUNDS + Math.random() * 0.1));
      const check = qemuCheck(image);
      if (tableOffset(image) === tableOffset('damaged.qcow2')) {
        // Not switched yet: what was written lies beyond what the old structure describes.
        expect({ round, code: check.status, stdout: check.stdout, stderr: check.stderr }).toEqual({ round, code: 2, stdout: damaged.stdout, stderr: damaged.stderr });
      } else {
        expect([0, 3], `round ${round}: ${check.stdout}${check.stderr}`).toContain(check.status);
        expect(check.stderr).not.toMatch(/ERROR/);
      }
      expect(spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', 'data.raw', image], { cwd: dir }).status, `round ${round}`).toBe(0);
    }
  });
});
