// A writer killed (SIGKILL) at random moments leaves an image that qemu-img check finds free of
// corruption: at most leaked clusters (exit 3), never errors (exit 2). Bounded: a few rounds.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable } from '../../../../tools/test-support/executables.ts';

let dir: string;
const SIZE = 24 * 2 ** 20;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-crash-'));
  // Data with holes, so the writer allocates, skips and copies on write.
  const parts: Buffer[] = [];
  for (let at = 0; at < SIZE; at += 2 ** 20) parts.push((at / 2 ** 20) % 3 === 2 ? Buffer.alloc(2 ** 20) : randomBytes(2 ** 20));
  writeFileSync(join(dir, 'source.raw'), Buffer.concat(parts));
  writeFileSync(join(dir, 'backing.raw'), randomBytes(SIZE / 2 + 1234));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const img = (args: string[]) => execFileSync(process.execPath, [executable('img-tool', 'modular'), ...args], { cwd: dir, encoding: 'utf8' });

/** Run `convert -n` into the image (rate-limited: about 1.5 s of writing) and kill it after `afterMs`; true when it was killed before it finished. */
function killedWriter(image: string, afterMs: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [executable('img-tool', 'modular'), 'convert', '-n', '-r', '16M', '-O', 'qcow2', 'source.raw', image], {
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
