// A 1 TiB sparse raw file, empty and with a few MiB scattered in it: map, compare, measure and
// convert follow its holes (found by SEEK_DATA/SEEK_HOLE), so each finishes in moments with
// qemu-img's output, and convert keeps the holes holes. The time bound is generous: this is a
// correctness test (before, reading the holes took hours), not a timing test.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { allocatedBytes, asTessera, configurations, MiB, qemuImg, random, tempDir, tool, writeImage } from './helpers.ts';

const TiB = 1024 * 1024 * MiB;
const BOUND_MS = 20_000;

let dir: string;
const empty = () => join(dir, 'empty.raw');
const scattered = () => join(dir, 'scattered.raw');
const other = () => join(dir, 'other.raw');

beforeAll(async () => {
  dir = await tempDir();
  await writeImage(empty(), TiB);
  const writes: Array<[number, Uint8Array]> = [[0, random(MiB)], [1000 * MiB, random(3 * MiB)], [500_000 * MiB + 4096, random(64 * 1024)], [TiB - MiB, random(MiB)]];
  await writeImage(scattered(), TiB, writes);
  // The same, but one sector differs deep inside: compare must find it at qemu-img's offset.
  await writeImage(other(), TiB, [...writes, [700_000 * MiB + 3 * 512, random(512)]]);
});

/** Runs tessera-img, failing when it takes longer than the bound. */
async function timed(configuration: (typeof configurations)[number], args: string[]) {
  const started = Date.now();
  const result = await tool(configuration, args);
  expect(Date.now() - started, `tessera-img ${args.join(' ')}`).toBeLessThan(BOUND_MS);
  return result;
}

describe.each(configurations)('a 1 TiB sparse raw image (%s)', (configuration) => {
  it('maps as qemu-img maps it (human and json)', async () => {
    for (const file of [empty(), scattered()]) {
      for (const output of ['human', 'json']) {
        const args = ['map', '-f', 'raw', `--output=${output}`, file];
        expect(await timed(configuration, args)).toEqual(asTessera(await qemuImg(args)));
      }
    }
  });

  it('maps files of odd sizes as qemu-img: the tail past the end reads as a hole', async () => {
    const odd = join(dir, `${configuration}-odd.raw`);
    const cases: Array<[number, Array<[number, Uint8Array]>]> = [[1000, [[0, random(1000)]]], [MiB + 100, [[8192, random(3)]]], [MiB + 1, [[MiB, random(1)]]]];
    for (const [size, writes] of cases) {
      await writeImage(odd, size, writes);
      for (const output of ['human', 'json']) {
        const args = ['map', '-f', 'raw', `--output=${output}`, odd];
        expect(await timed(configuration, args)).toEqual(asTessera(await qemuImg(args)));
      }
      expect(await timed(configuration, ['compare', '-s', odd, odd])).toEqual(asTessera(await qemuImg(['compare', '-s', odd, odd])));
    }
  });

  it('compares as qemu-img compares it', async () => {
    for (const pair of [[empty(), empty()], [scattered(), scattered()], [empty(), scattered()], [scattered(), other()], [scattered(), other(), '-s']]) {
      const args = ['compare', ...pair.filter((a) => a === '-s'), '-f', 'raw', '-F', 'raw', ...pair.filter((a) => a !== '-s')];
      const ours = await timed(configuration, args);
      expect(ours).toEqual(asTessera(await qemuImg(args)));
    }
  });

  it('measures as qemu-img measures it', async () => {
    for (const file of [empty(), scattered()]) {
      for (const format of ['raw', 'qcow2']) {
        const args = ['measure', '-f', 'raw', '-O', format, file];
        expect(await timed(configuration, args)).toEqual(asTessera(await qemuImg(args)));
      }
    }
  });

  it('converts to raw and qcow2 keeping the holes holes, with the same content', async () => {
    for (const format of ['raw', 'qcow2']) {
      const target = join(dir, `${configuration}.${format}`);
      const ours = await timed(configuration, ['convert', '-f', 'raw', '-O', format, scattered(), target]);
      expect(ours).toMatchObject({ code: 0, stderr: '' });
      expect(await qemuImg(['compare', '-f', 'raw', '-F', format, scattered(), target])).toMatchObject({ code: 0, stdout: 'Images are identical.\n' });
      // About the 6 MiB of data (plus qcow2's metadata): the terabyte of holes was not written.
      expect(await allocatedBytes(target)).toBeLessThan(16 * MiB);
      if (format === 'qcow2') expect((await qemuImg(['check', target])).code).toBe(0);
    }
  });
});
