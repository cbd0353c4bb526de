// Writes to an image with an internal snapshot copy every cluster and L2 table they touch. A
// writer killed (SIGKILL) at random moments leaves at most leaked clusters, and the snapshot
// still holds the bytes it was taken with. Snapshot operations killed at random moments: apply
// leaves leaks at most; create and delete may also leave the COPIED mismatches no order avoids
// (see snapshot/create.ts), which `check -r all` repairs; the data is never touched. Bounded: a
// few rounds.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable } from '../../../../tools/test-support/executables.ts';
import { runKilledAfter } from '../../../../tools/test-support/killed-run.ts';

let dir: string;
const SIZE = 16 * 2 ** 20;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-snapshot-crash-'));
  writeFileSync(join(dir, 'first.raw'), randomBytes(SIZE));
  writeFileSync(join(dir, 'second.raw'), randomBytes(SIZE));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `tessera-img snapshot ARGS image`, killed after `afterMs`; true when killed before it finished. */
async function killedSnapshot(args: readonly string[], image: string, afterMs: number): Promise<boolean> {
  return (await runKilledAfter(['snapshot', ...args, image], dir, afterMs)).killed;
}

/** Everything `qemu-img check` reports besides leaks is a COPIED mismatch (never a refcount below its references). */
function onlyCopiedMismatches(output: string): boolean {
  return output.split('\n').filter((line) => line.startsWith('ERROR')).every((line) => line.startsWith('ERROR OFLAG_COPIED'));
}

const img = (args: string[]) => execFileSync(process.execPath, [executable('img-tool', 'modular'), ...args], { cwd: dir, encoding: 'utf8' });
// (A killed operation can leave thousands of leaked clusters, one line each.)
const qemuImg = (args: string[]) => spawnSync('qemu-img', args, { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });

/**
 * `convert -n` of second.raw into the image (rate-limited: about 1.5 s), killed after `afterMs`;
 * true when killed first. `-t writeback`: convert's default cache=unsafe defers metadata to the
 * end (as qemu-img does), so only the other modes promise a consistent image after a kill.
 */
async function killedWriter(image: string, afterMs: number): Promise<boolean> {
  return (await runKilledAfter(['convert', '-n', '-t', 'writeback', '-r', '10M', '-O', 'qcow2', 'second.raw', image], dir, afterMs)).killed;
}

describe('crash consistency with internal snapshots', () => {
  it.each([['cluster_size=4k'], ['cluster_size=16k,extended_l2=on']])(
    '-o %s: killed writers leave leaks at most, and the snapshot intact',
    async (options) => {
      let killed = 0;
      const rounds = 3;
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

describe('crash consistency of snapshot operations', () => {
  it('killed apply, create and delete leave the data and the snapshots intact', async () => {
    // 512-byte clusters: many tables, so an operation takes long enough to be killed midway.
    const template = 'ops-template.qcow2';
    execFileSync('qemu-img', ['convert', '-O', 'qcow2', '-o', 'cluster_size=512', 'first.raw', template], { cwd: dir });
    execFileSync('qemu-img', ['snapshot', '-c', 'base', template], { cwd: dir });
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5c 0 6M', template], { cwd: dir });
    execFileSync('qemu-img', ['convert', '-O', 'raw', template, 'active.raw'], { cwd: dir });
    const same = (raw: string, image: string) => qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', raw, image]).status === 0;
    const operations = [['-a', 'base'], ['-c', 'new'], ['-d', 'base']];
    // How long each operation takes here and now (machine load varies): the kills land inside it.
    const durations = operations.map((args) => {
      copyFileSync(join(dir, template), join(dir, 'ops-timing.qcow2'));
      const started = Date.now();
      img(['snapshot', ...args, 'ops-timing.qcow2']);
      return Date.now() - started;
    });
    let killed = 0;
    const rounds = 3;
    for (let round = 0; round < rounds; round++) {
      for (const [index, args] of operations.entries()) {
        const image = `ops-${args[0]!.slice(1)}-${round}.qcow2`;
        copyFileSync(join(dir, template), join(dir, image));
        if (await killedSnapshot(args, image, Math.floor(durations[index]! * (0.3 + 0.65 * Math.random())))) killed++;
        const check = qemuImg(['check', image]);
        const what = `${args.join(' ')}, round ${round}: ${check.stdout}${check.stderr}`;
        if (args[0] === '-a') {
          expect([0, 3], what).toContain(check.status);
          expect(check.stdout + check.stderr, what).not.toMatch(/ERROR/);
          // Either still the active content or already the snapshot's.
          expect(same('active.raw', image) || same('first.raw', image), what).toBe(true);
        } else {
          expect(onlyCopiedMismatches(check.stdout + check.stderr), what).toBe(true);
          qemuImg(['check', '-r', 'all', image]);
          expect(qemuImg(['check', image]).status, what).toBe(0);
          expect(same('active.raw', image), what).toBe(true);
        }
        // The snapshot (unless it was being deleted) still brings back its content.
        if (qemuImg(['snapshot', '-a', 'base', image]).status === 0) expect(same('first.raw', image), what).toBe(true);
        else expect(args[0], what).toBe('-d');
      }
    }
    expect(killed).toBeGreaterThanOrEqual(3);
  }, 120_000);
});
