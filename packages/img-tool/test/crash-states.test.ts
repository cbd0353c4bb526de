// Exhaustive crash consistency (issue 14): each command's storage writes are recorded from a real
// run, and every state a process crash (any cache mode) or a power loss (the modes that flush)
// could leave is rebuilt and checked with qemu-img check: no corruption, no check error, in any
// of them (leaked clusters are allowed, as QEMU allows them). Each case prints its counts.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CrashStateReport } from '../../../tools/test-support/crash-states.ts';
import { executable } from '../../../tools/test-support/executables.ts';
import { describeReport, recordAndCheck } from '../../../tools/test-support/recorded-run.ts';

let dir: string;
const SIZE = 3 * 2 ** 20;

/**
 * Guest content with a realistic layout: data runs of varied lengths, holes of zeroes between
 * them, clusters only partly written, so the writer allocates, skips and leaves zero clusters.
 */
function fragmented(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let at = seed * 4096;
  for (let i = 0; at < size; i++) {
    const length = [12_288, 4096, 40_960, 512, 65_536, 8192][(i + seed) % 6]!;
    if (i % 3 !== 2) randomBytes(Math.min(length, size - at)).copy(out, at);
    at += length + [4096, 28_672, 0, 61_440][(i + seed) % 4]!;
  }
  return out;
}

const img = (...args: string[]) => execFileSync(process.execPath, [executable('img-tool', 'modular'), ...args], { cwd: dir, stdio: 'pipe' });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-crash-states-'));
  writeFileSync(join(dir, 'source.raw'), fragmented(SIZE, 0));
  writeFileSync(join(dir, 'short.raw'), fragmented(SIZE / 3, 1));
  // Two thirds data, in 64 KiB runs: enough clusters that the refcount table must grow.
  writeFileSync(join(dir, 'dense.raw'), Buffer.concat(Array.from({ length: SIZE / 65_536 }, (_, i) => (i % 3 === 2 ? Buffer.alloc(65_536) : randomBytes(65_536)))));
  writeFileSync(join(dir, 'other.raw'), fragmented(SIZE, 3));
  writeFileSync(join(dir, 'backing.raw'), fragmented(SIZE, 5));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectConsistent(name: string, report: CrashStateReport): void {
  console.log(describeReport(name, report));
  expect(report.failures, report.failures.join('\n')).toEqual([]);
  expect(report.checked).toBeGreaterThan(1);
}

describe('raw -> qcow2 convert, every cache mode', () => {
  // qemu-img convert's default cache mode for its target is unsafe (no flush): process crashes only.
  // none, writethrough and directsync take the writeback path here (no O_DIRECT; the metadata
  // ordering flushes are the same): a third of the image keeps their power-loss epochs quick.
  it.each([
    ['default', [], false, 'source.raw'],
    ['unsafe', ['-t', 'unsafe'], false, 'source.raw'],
    ['writeback', ['-t', 'writeback'], true, 'source.raw'],
    ['none', ['-t', 'none'], true, 'short.raw'],
    ['writethrough', ['-t', 'writethrough'], true, 'short.raw'],
    ['directsync', ['-t', 'directsync'], true, 'short.raw'],
  ] as const)('-t %s', async (mode, cache, powerLoss, source) => {
    rmSync(join(dir, 'out.qcow2'), { force: true });
    const report = await recordAndCheck(dir, ['convert', ...cache, '-O', 'qcow2', '-o', 'cluster_size=4k', source, 'out.qcow2'], {
      writes: ['out.qcow2'],
      powerLoss,
      fromLastOpenOf: 'out.qcow2',
    });
    expectConsistent(`convert -t ${mode}`, report);
  }, 300_000);

  it.each([
    ['compressed (-c)', ['-c', '-o', 'cluster_size=4k']],
    ['extended L2 entries', ['-o', 'extended_l2=on,cluster_size=32k']],
    ['lazy refcounts', ['-o', 'lazy_refcounts=on,cluster_size=4k']],
  ])('-t default, %s', async (name, options) => {
    rmSync(join(dir, 'variant.qcow2'), { force: true });
    const report = await recordAndCheck(dir, ['convert', ...options, '-O', 'qcow2', 'short.raw', 'variant.qcow2'], {
      writes: ['variant.qcow2'],
      powerLoss: false,
      fromLastOpenOf: 'variant.qcow2',
    });
    expectConsistent(`convert ${name}`, report);
  }, 300_000);

  it('-t default, 512-byte clusters, 64-bit refcounts (many L2 tables and refcount blocks, the refcount table grows)', async () => {
    rmSync(join(dir, 'small.qcow2'), { force: true });
    const report = await recordAndCheck(dir, ['convert', '-O', 'qcow2', '-o', 'cluster_size=512,refcount_bits=64', 'dense.raw', 'small.qcow2'], {
      writes: ['small.qcow2'],
      powerLoss: false,
      fromLastOpenOf: 'small.qcow2',
    });
    expectConsistent('convert 512-byte clusters', report);
    expect(readFileSync(join(dir, 'small.qcow2')).readUInt32BE(56), 'refcount table clusters').toBeGreaterThan(1); // it grew
  }, 300_000);
});

/** A qcow2 image in `dir` with `source` written into it (over a backing file when given). */
function prepared(name: string, options: string, backing?: string): void {
  rmSync(join(dir, name), { force: true });
  img('create', '-q', '-f', 'qcow2', '-o', options, ...(backing ? ['-b', backing, '-F', backing.endsWith('.raw') ? 'raw' : 'qcow2'] : []), name, String(SIZE));
}

describe('other commands that write a qcow2 image', () => {
  it('convert -n into an image with data, over a backing file (clusters freed, reused, copied on write)', async () => {
    for (const cache of [[], ['-t', 'writeback']]) {
      prepared('target.qcow2', 'cluster_size=4k', 'backing.raw');
      img('convert', '-n', '-t', 'writeback', '-O', 'qcow2', 'source.raw', 'target.qcow2');
      const report = await recordAndCheck(dir, ['convert', '-n', ...cache, '-O', 'qcow2', 'other.raw', 'target.qcow2'], { writes: ['target.qcow2'], powerLoss: cache.length > 0 });
      expectConsistent(`convert -n ${cache.join(' ') || '(default cache)'}`, report);
    }
  }, 300_000);

  it('commit of an overlay into its qcow2 backing file', async () => {
    prepared('base.qcow2', 'cluster_size=4k');
    img('convert', '-n', '-t', 'writeback', '-O', 'qcow2', 'source.raw', 'base.qcow2');
    prepared('overlay.qcow2', 'cluster_size=4k', 'base.qcow2');
    img('convert', '-n', '-t', 'writeback', '-B', 'base.qcow2', '-O', 'qcow2', 'other.raw', 'overlay.qcow2');
    const report = await recordAndCheck(dir, ['commit', 'overlay.qcow2'], { writes: ['base.qcow2', 'overlay.qcow2'], powerLoss: true });
    expectConsistent('commit', report);
  }, 300_000);

  it('snapshot -c, then -d', async () => {
    prepared('snap.qcow2', 'cluster_size=4k');
    img('convert', '-n', '-t', 'writeback', '-O', 'qcow2', 'source.raw', 'snap.qcow2');
    img('snapshot', '-c', 'first', 'snap.qcow2');
    img('convert', '-n', '-t', 'writeback', '-O', 'qcow2', 'other.raw', 'snap.qcow2');
    const created = await recordAndCheck(dir, ['snapshot', '-c', 'second', 'snap.qcow2'], { writes: ['snap.qcow2'], powerLoss: true, allowClearedCopiedFlags: true });
    expectConsistent('snapshot -c', created);
    const deleted = await recordAndCheck(dir, ['snapshot', '-d', 'first', 'snap.qcow2'], { writes: ['snap.qcow2'], powerLoss: true });
    expectConsistent('snapshot -d', deleted);
  }, 300_000);

  it('resize: grown past the L1 table, then shrunk', async () => {
    prepared('resize.qcow2', 'cluster_size=512');
    img('convert', '-n', '-t', 'writeback', '-O', 'qcow2', 'source.raw', 'resize.qcow2');
    const grown = await recordAndCheck(dir, ['resize', 'resize.qcow2', '64M'], { writes: ['resize.qcow2'], powerLoss: true });
    expectConsistent('resize grow', grown);
    const shrunk = await recordAndCheck(dir, ['resize', '--shrink', 'resize.qcow2', '1M'], { writes: ['resize.qcow2'], powerLoss: true });
    expectConsistent('resize shrink', shrunk);
  }, 300_000);

  it('amend: refcount width changed (refcount structures rebuilt), lazy refcounts on', async () => {
    prepared('amend.qcow2', 'cluster_size=4k');
    img('convert', '-n', '-t', 'writeback', '-O', 'qcow2', 'source.raw', 'amend.qcow2');
    const width = await recordAndCheck(dir, ['amend', '-o', 'refcount_bits=64', 'amend.qcow2'], { writes: ['amend.qcow2'], powerLoss: true });
    expectConsistent('amend refcount_bits', width);
    const lazy = await recordAndCheck(dir, ['amend', '-o', 'lazy_refcounts=on', 'amend.qcow2'], { writes: ['amend.qcow2'], powerLoss: true });
    expectConsistent('amend lazy_refcounts', lazy);
  }, 300_000);
});
