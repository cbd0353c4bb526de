// A writer killed (SIGKILL) at random moments leaves an image that qemu-img check finds free of
// corruption: at most leaked clusters (exit 3), never errors (exit 2). Bounded: a few rounds.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable } from '../../../../tools/test-support/executables.ts';
import { runKilledAfter } from '../../../../tools/test-support/killed-run.ts';

let dir: string;
const SIZE = 24 * 2 ** 20;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-crash-'));
  // Data with holes, so the writer allocates, skips and copies on write.
  const parts: Buffer[] = [];
  for (let at = 0; at < SIZE; at += 2 ** 20) parts.push((at / 2 ** 20) % 3 === 2 ? Buffer.alloc(2 ** 20) : randomBytes(2 ** 20));
  writeFileSync(join(dir, 'source.raw'), Buffer.concat(parts));
  writeFileSync(join(dir, 'backing.raw'), randomBytes(SIZE / 2 + 1234));
  // The reverse pattern: zeroes where the source has data (those clusters are freed), data where
  // it has zeroes (new clusters, which should reuse the freed ones).
  const flipped: Buffer[] = [];
  for (let at = 0; at < SIZE; at += 2 ** 20) flipped.push((at / 2 ** 20) % 3 === 2 ? randomBytes(2 ** 20) : Buffer.alloc(2 ** 20));
  writeFileSync(join(dir, 'flipped.raw'), Buffer.concat(flipped));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const img = (args: string[]) => execFileSync(process.execPath, [executable('img-tool', 'modular'), ...args], { cwd: dir, encoding: 'utf8' });

/**
 * Run `convert -n` into the image (rate-limited: about 1.5 s of writing) and kill it after
 * `afterMs`; true when it was killed before it finished. With `-t writeback`: convert's default,
 * cache=unsafe, keeps metadata in memory until the end, as qemu-img does, so a killed one leaves
 * its output incomplete by design; every other mode is crash consistent, which is what is tested.
 */
async function killedWriter(image: string, afterMs: number, source = 'source.raw'): Promise<boolean> {
  return (await runKilledAfter(['convert', '-n', '-t', 'writeback', '-r', '16M', '-O', 'qcow2', source, image], dir, afterMs)).killed;
}

describe('crash consistency', () => {
  it.each([
    ['cluster_size=4k,refcount_bits=16'],
    ['cluster_size=512,refcount_bits=64'],
    ['cluster_size=32k,extended_l2=on'],
    ['lazy_refcounts=on,cluster_size=4k'],
  ])('-o %s: killed writers leave no corruption', async (options) => {
    let killed = 0;
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      const image = `crash-${options.replace(/\W+/g, '_')}-${round}.qcow2`;
      img(['create', '-q', '-f', 'qcow2', '-o', options, '-b', 'backing.raw', '-F', 'raw', image, String(SIZE)]);
      if (await killedWriter(image, 200 + Math.floor(Math.random() * 1200))) killed++;
      const check = spawnSync('qemu-img', ['check', image], { cwd: dir, encoding: 'utf8' });
      // 0: clean, 3: leaked clusters only. Lazy refcounts: the dirty image is checked (and its refcounts rebuilt) as QEMU would.
      expect([0, 3], `round ${round}: ${check.stdout}${check.stderr}`).toContain(check.status);
      expect(check.stdout).not.toMatch(/ERROR/);
      // The survivor takes writes again (a dirty one has its refcounts rebuilt first) and ends up right.
      img(['convert', '-n', '-O', 'qcow2', 'source.raw', image]);
      const after = spawnSync('qemu-img', ['check', image], { cwd: dir, encoding: 'utf8' });
      expect([0, 3], after.stdout).toContain(after.status);
      expect(after.stdout).not.toMatch(/ERROR/);
      expect(spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', 'source.raw', image], { cwd: dir, encoding: 'utf8' }).stdout).toBe('Images are identical.\n');
    }
    expect(killed).toBeGreaterThanOrEqual(rounds - 1);
  }, 120_000);
});

describe('crash consistency with freed clusters reused', () => {
  it.each([['cluster_size=4k'], ['lazy_refcounts=on,cluster_size=4k'], ['cluster_size=4k,refcount_bits=1']])(
    '-o %s: a killed overwrite leaves no corruption, and every cluster holds its old or its new content',
    async (options) => {
      const cs = Number(/cluster_size=(\d+)k/.exec(options)![1]) * 1024;
      const before = readFileSync(join(dir, 'source.raw'));
      const after = readFileSync(join(dir, 'flipped.raw'));
      for (let round = 0; round < 2; round++) {
        const image = `reuse-${options.replace(/\W+/g, '_')}-${round}.qcow2`;
        img(['create', '-q', '-f', 'qcow2', '-o', options, image, String(SIZE)]);
        img(['convert', '-n', '-O', 'qcow2', 'source.raw', image]);
        const filled = statSync(join(dir, image)).size;
        await killedWriter(image, 300 + Math.floor(Math.random() * 1000), 'flipped.raw');
        const check = spawnSync('qemu-img', ['check', image], { cwd: dir, encoding: 'utf8' });
        expect([0, 3], `round ${round}: ${check.stdout}${check.stderr}`).toContain(check.status);
        expect(check.stdout).not.toMatch(/ERROR/);
        // A reused cluster never shows through where the old content is still referenced.
        execFileSync('qemu-img', ['convert', '-O', 'raw', image, `${image}.raw`], { cwd: dir });
        const content = readFileSync(join(dir, `${image}.raw`));
        for (let at = 0; at < SIZE; at += cs) {
          const cluster = content.subarray(at, at + cs);
          if (!cluster.equals(before.subarray(at, at + cs)) && !cluster.equals(after.subarray(at, at + cs))) {
            expect.fail(`round ${round}: the cluster at ${at} holds neither its old nor its new content`);
          }
        }
        // Finished, the overwrite reuses the freed clusters: the file does not grow by the 8 MiB of new
        // data (only by what the killed writer may have leaked).
        img(['convert', '-n', '-O', 'qcow2', 'flipped.raw', image]);
        expect(statSync(join(dir, image)).size).toBeLessThan(filled + 4 * 2 ** 20);
        const end = spawnSync('qemu-img', ['check', '--output=json', image], { cwd: dir, encoding: 'utf8' });
        expect([0, 3], end.stdout).toContain(end.status);
        expect(spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', 'flipped.raw', image], { cwd: dir, encoding: 'utf8' }).stdout).toBe('Images are identical.\n');
        rmSync(join(dir, `${image}.raw`));
      }
    },
    120_000,
  );
});
