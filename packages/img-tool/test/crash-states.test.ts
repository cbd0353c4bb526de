// Exhaustive crash consistency (issue 14): each command's storage writes are recorded from a real
// run, and every state a process crash (any cache mode) or a power loss (the modes that flush)
// could leave is rebuilt and checked with qemu-img check: no corruption, no check error, in any
// of them (leaked clusters are allowed, as QEMU allows them). Each case prints its counts.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
  writeFileSync(join(dir, 'other.raw'), fragmented(SIZE, 3));
  writeFileSync(join(dir, 'backing.raw'), fragmented(SIZE, 5));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectConsistent(name: string, report: CrashStateReport): void {
  console.log(describeReport(name, report));
  expect(report.failures, report.failures.join('\n')).toEqual([]);
  expect(report.checked).toBeGreaterThan(10);
}

describe('raw -> qcow2 convert, every cache mode', () => {
  // qemu-img convert's default cache mode for its target is unsafe (no flush): process crashes only.
  it.each([
    ['default', [], false],
    ['unsafe', ['-t', 'unsafe'], false],
    ['none', ['-t', 'none'], true],
    ['writeback', ['-t', 'writeback'], true],
    ['writethrough', ['-t', 'writethrough'], true],
    ['directsync', ['-t', 'directsync'], true],
  ] as const)('-t %s', async (mode, cache, powerLoss) => {
    rmSync(join(dir, 'out.qcow2'), { force: true });
    const report = await recordAndCheck(dir, ['convert', ...cache, '-O', 'qcow2', '-o', 'cluster_size=4k', 'source.raw', 'out.qcow2'], {
      writes: ['out.qcow2'],
      powerLoss,
      fromLastOpenOf: 'out.qcow2',
    });
    expectConsistent(`convert -t ${mode}`, report);
  }, 300_000);

  it('-t default, 512-byte clusters (many L2 tables and refcount blocks, the refcount table grows)', async () => {
    rmSync(join(dir, 'small.qcow2'), { force: true });
    const report = await recordAndCheck(dir, ['convert', '-O', 'qcow2', '-o', 'cluster_size=512,refcount_bits=16', 'source.raw', 'small.qcow2'], {
      writes: ['small.qcow2'],
      powerLoss: false,
      fromLastOpenOf: 'small.qcow2',
    });
    expectConsistent('convert 512-byte clusters', report);
  }, 300_000);
});
