// Mutated qcow2 headers and tables never crash or hang the reader: it either reads the image or
// fails with one of its own clear errors. Bounded: a fixed number of runs, each with a time limit.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fileProtocol } from '../../block-file/src/file-protocol.ts';
import { qcow2Format } from '../src/format.ts';
import type { BlockNode } from '@tessera/core';

let dir: string;
const seeds = new Map<string, Buffer>();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-fuzz-'));
  const make = (name: string, args: string[], io: string[]) => {
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', ...args, join(dir, name), '1M']);
    if (io.length) execFileSync('qemu-io', [...io.flatMap((c) => ['-c', c]), join(dir, name)]);
    seeds.set(name, readFileSync(join(dir, name)));
  };
  make('plain.qcow2', ['-o', 'cluster_size=4096'], ['write -P 0x5 0 64k', 'write -z 128k 8k']);
  make('extl2.qcow2', ['-o', 'extended_l2=on,cluster_size=16k'], ['write -P 0x6 4k 3k', 'write -z 64k 2k']);
  make('snapshots.qcow2', ['-o', 'cluster_size=4096'], ['write -P 0x7 0 8k']);
  execFileSync('qemu-img', ['snapshot', '-c', 'one', join(dir, 'snapshots.qcow2')]);
  execFileSync('qemu-img', ['snapshot', '-c', 'two', join(dir, 'snapshots.qcow2')]);
  seeds.set('snapshots.qcow2', readFileSync(join(dir, 'snapshots.qcow2')));
  execFileSync('qemu-img', ['convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=4096', join(dir, 'plain.qcow2'), join(dir, 'compressed.qcow2')]);
  seeds.set('compressed.qcow2', readFileSync(join(dir, 'compressed.qcow2')));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Open and read (up to 2 MiB of) the image; resolve to 'ok' or the error's message. */
async function readAll(path: string): Promise<string> {
  const file = await fileProtocol.open(path, { readOnly: true, driverOptions: {} });
  let image: BlockNode | undefined;
  try {
    image = await qcow2Format.open(file, { readOnly: true, driverOptions: {} });
    const chunk = new Uint8Array(64 * 1024);
    for (let offset = 0; offset < Math.min(image.size, 2 * 2 ** 20); offset += chunk.length) {
      await image.read(offset, chunk.subarray(0, Math.min(chunk.length, image.size - offset)));
    }
    return 'ok';
  } finally {
    if (image) await image.close();
    else await file.close();
  }
}

const withTimeout = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`hung for ${ms} ms`)), ms))]);

it('mutated images read or fail with a clear error, never crash or hang', async () => {
  let n = 0;
  const outcomes = { ok: 0, refused: 0 };
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...seeds.keys()),
      // Mutations aimed at the header (first 512 bytes) and anywhere in the file.
      fc.array(fc.tuple(fc.oneof(fc.integer({ min: 0, max: 511 }), fc.nat()), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      async (seed, mutations) => {
        const bytes = Buffer.from(seeds.get(seed)!);
        for (const [at, value] of mutations) bytes[at % bytes.length] = value;
        const path = join(dir, `case-${n++}.qcow2`);
        writeFileSync(path, bytes);
        try {
          await withTimeout(readAll(path), 10_000);
          outcomes.ok++;
        } catch (error) {
          // Our own errors are plain Errors naming the image; a TypeError or RangeError is a bug.
          expect((error as Error).constructor).toBe(Error);
          expect((error as Error).message).not.toMatch(/hung for/);
          expect((error as Error).message).toMatch(new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}|qcow2`));
          outcomes.refused++;
        } finally {
          rmSync(path, { force: true });
        }
      },
    ),
    { numRuns: 400, seed: 20261126 },
  );
  // The property saw both outcomes: it exercised the parser, not only its first check.
  expect(outcomes.ok).toBeGreaterThan(0);
  expect(outcomes.refused).toBeGreaterThan(0);
}, 300_000);
