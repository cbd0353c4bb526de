// A bounded fuzz test of the VMDK3 (COWD) and seSparse parsers: headers, the text qemu reads a
// CID from, grain directories and grain tables of valid images (test/helpers/legacy-images.ts),
// mutated at random (fixed seeds). Every case must open, read and check, or fail with a coded
// error (a check with its findings): no other exception, no hang, no allocation beyond what the
// file itself holds.
import { describe, expect, it } from 'vitest';
import { fragmentedData } from './helpers/data.ts';
import { CODES, exercise, generator, mutate } from './helpers/fuzz.ts';
import { cowdImage, descriptorText, seSparseImage } from './helpers/legacy-images.ts';
import { MemoryNode } from './helpers/memory-node.ts';

const MiB = 2 ** 20;
const data = fragmentedData(3 * MiB, 21);
const encode = (text: string) => new TextEncoder().encode(text);

interface Seed {
  /** The image opened (a bare COWD, or a descriptor). */
  readonly image: Uint8Array;
  /** The extent mutated, when the image is a descriptor naming it. */
  readonly extent?: { readonly name: string; readonly bytes: Uint8Array };
  /** Byte ranges of the mutated file worth mutating. */
  readonly spots: ReadonlyArray<readonly [number, number]>;
}

// COWD: header fields, the text at 512, the directory at sector 4, the start of the tables (sector 5 on).
const cowdSpots = [[0, 48], [512, 560], [2048, 2072], [2560, 2560 + 512], [2560 + 16384, 2560 + 16384 + 512]] as const;
// seSparse: the constant header with its padding, the volatile header, the directory (sector 11), the first table.
const seSparseSpots = [[0, 512], [512, 560], [11 * 512, 11 * 512 + 32], [12 * 512, 12 * 512 + 2048]] as const;

const SEEDS: Record<string, Seed> = {
  cowd: { image: cowdImage(data, { grainSectors: 1, textAt512: 'CID=12345678\nparentCID=ffffffff\n' }), spots: cowdSpots },
  vmfsSparse: {
    image: encode(descriptorText('vmfsSparse', [`RW ${(3 * MiB) / 512} VMFSSPARSE "delta.vmdk"`])),
    extent: { name: 'delta.vmdk', bytes: cowdImage(data, { grainSectors: 8 }) },
    spots: cowdSpots,
  },
  seSparse: {
    image: encode(descriptorText('seSparse', [`RW ${(3 * MiB) / 512} SESPARSE "se.vmdk"`])),
    extent: { name: 'se.vmdk', bytes: seSparseImage(data, new Map([[700, 'zeroed'], [701, 'unmapped']])) },
    spots: seSparseSpots,
  },
};

describe('fuzzed VMDK3 and seSparse extents', () => {
  it.each(Object.keys(SEEDS))('%s: 150 mutations, each opened, read and checked or refused with a coded error', async (name) => {
    const seed = SEEDS[name]!;
    const random = generator(0x2545f491 ^ name.length);
    const memoryBefore = process.memoryUsage().rss;
    const outcomes = { opened: 0, refused: 0 };
    for (let i = 0; i < 150; i++) {
      const image = seed.extent ? seed.image : mutate(seed.image, seed.spots, random);
      const extents = seed.extent ? { [seed.extent.name]: mutate(seed.extent.bytes, seed.spots, random) } : {};
      const started = Date.now();
      try {
        await exercise(new MemoryNode(`${name}.vmdk`, image), extents, { check: true });
        outcomes.opened++;
      } catch (error) {
        const e = error as { code?: string; message?: string };
        expect({ case: i, message: e.message, coded: CODES.includes(e.code ?? '') }).toMatchObject({ case: i, coded: true });
        outcomes.refused++;
      }
      expect(Date.now() - started).toBeLessThan(5000);
    }
    // Both outcomes happen: the mutations reach the checks, and not every case is refused.
    expect(outcomes.opened).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
    expect(process.memoryUsage().rss - memoryBefore).toBeLessThan(512 * MiB);
  });
});
