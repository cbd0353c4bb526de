// Mutated metadata never crashes or hangs the check: it reports (with any verdict) or fails
// with a plain Error (a CheckFailure, or the open's refusal), never a TypeError, a RangeError or
// a huge allocation. Repairs of what opens for writing are exercised too. Bounded in runs and time.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { BlockNode, CheckRepair } from '@tessera/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fileProtocol } from '../../block-file/src/file-protocol.ts';
import { CheckFailure } from '../src/check/result.ts';
import { qcow2Format } from '../src/format.ts';

let dir: string;
const seeds = new Map<string, Buffer>();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-check-fuzz-'));
  const make = (name: string, options: string, io: string[], snapshot = false) => {
    const path = join(dir, name);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', options, path, '1M']);
    execFileSync('qemu-io', [...io.flatMap((c) => ['-c', c]), path]);
    if (snapshot) execFileSync('qemu-img', ['snapshot', '-c', 'one', path]);
    seeds.set(name, readFileSync(path));
  };
  make('plain.qcow2', 'cluster_size=4096', ['write -P 0x5 0 64k', 'write -z 128k 8k']);
  make('refcount1.qcow2', 'cluster_size=4096,refcount_bits=1', ['write -P 0x5 0 32k']);
  make('extl2.qcow2', 'extended_l2=on,cluster_size=16k', ['write -P 0x6 4k 3k', 'write -z 64k 2k']);
  make('snapshot.qcow2', 'cluster_size=4096', ['write -P 0x7 0 8k'], true);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function check(path: string, repair: CheckRepair): Promise<string> {
  const file = await fileProtocol.open(path, { readOnly: repair === 'none', driverOptions: {} });
  let image: BlockNode | undefined;
  try {
    image = await qcow2Format.open(file, { readOnly: repair === 'none', driverOptions: {} });
    const result = await image.check!(repair);
    return result.corruptions ? 'corrupt' : result.leaks ? 'leaks' : 'clean';
  } finally {
    if (image) await image.close();
    else await file.close();
  }
}

const withTimeout = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`hung for ${ms} ms`)), ms))]);

it('mutated metadata is checked (and repaired) or refused with a clear error, never a crash or a hang', async () => {
  let n = 0;
  const outcomes = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...seeds.keys()),
      // The metadata of these small images lives in their first clusters.
      fc.array(fc.tuple(fc.integer({ min: 0, max: 48 * 1024 - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.constantFrom<CheckRepair>('none', 'none', 'leaks', 'all'),
      async (seed, mutations, repair) => {
        const bytes = Buffer.from(seeds.get(seed)!);
        for (const [at, value] of mutations) bytes[at % bytes.length] = value;
        const path = join(dir, `case-${n++}.qcow2`);
        writeFileSync(path, bytes);
        try {
          const verdict = await withTimeout(check(path, repair), 10_000);
          outcomes.set(verdict, (outcomes.get(verdict) ?? 0) + 1);
        } catch (error) {
          expect((error as Error).message).not.toMatch(/hung for/);
          expect([Error, CheckFailure]).toContain((error as Error).constructor);
          outcomes.set('refused', (outcomes.get('refused') ?? 0) + 1);
        } finally {
          rmSync(path, { force: true });
        }
      },
    ),
    { numRuns: 1000, seed: 20261127 },
  );
  // The runs reached the check's findings, not only the open's refusals.
  expect(outcomes.get('corrupt') ?? 0).toBeGreaterThan(0);
  expect(outcomes.get('clean') ?? 0).toBeGreaterThan(0);
}, 120_000);
