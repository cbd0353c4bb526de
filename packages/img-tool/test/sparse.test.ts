// convert's -S decisions (which parts of a chunk are written): the shortcut that writes a data
// chunk whole after a few reads must decide exactly as looking at every sector does.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dataRanges, dataRangesBySector, zeroSectors } from '../src/image/sparse.ts';

const SECTOR = 512;

/** A chunk from runs of sectors: zero, or data whose non-zero byte is at the start, middle or end. */
const chunk = fc
  .array(fc.record({ zero: fc.boolean(), sectors: fc.integer({ min: 1, max: 24 }), at: fc.constantFrom(0, 3, 200, 511) }), { minLength: 1, maxLength: 30 })
  .map((runs) => {
    const count = runs.reduce((sum, run) => sum + run.sectors, 0);
    const data = new Uint8Array(count * SECTOR);
    let sector = 0;
    for (const run of runs) {
      for (let i = 0; i < run.sectors; i++, sector++) if (!run.zero) data[sector * SECTOR + run.at] = 0x5a;
    }
    return data;
  });

describe('dataRanges', () => {
  it('decides as looking at every sector does, for any chunk, offset and sparse size', () => {
    fc.assert(
      fc.property(chunk, fc.integer({ min: 0, max: 64 }), fc.constantFrom(512, 1024, 1536, 4096, 8192, 65536), (data, offsetSectors, sparseSize) => {
        const offset = offsetSectors * SECTOR;
        expect(dataRanges(data, offset, sparseSize)).toEqual(dataRangesBySector(data, offset, sparseSize));
      }),
      { numRuns: 3000 },
    );
  });

  it('writes a chunk with data in every 4 KiB whole, and leaves out a zero 4 KiB at its end', () => {
    const data = new Uint8Array(64 * SECTOR);
    for (let sector = 0; sector < 64; sector += 8) data[sector * SECTOR] = 1;
    data[63 * SECTOR] = 1;
    expect(dataRanges(data, 0, 4096)).toEqual([[0, data.length]]);
    data[56 * SECTOR] = 0;
    data[63 * SECTOR] = 0; // the last 4 KiB is zero now: not written
    expect(dataRanges(data, 0, 4096)).toEqual([[0, 56 * SECTOR]]);
  });
});

describe('zeroSectors', () => {
  it('tells each sector zero or not as comparing it byte by byte does, whatever the alignment and length', () => {
    fc.assert(
      fc.property(chunk, fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 511 }), (data, shift, cut) => {
        // Off a word boundary and with a partial last sector too.
        const backing = new Uint8Array(data.length + 8);
        backing.set(data, shift);
        const view = backing.subarray(shift, shift + Math.max(1, data.length - cut));
        const expected = Array.from({ length: Math.ceil(view.length / SECTOR) }, (_, i) => (view.subarray(i * SECTOR, (i + 1) * SECTOR).every((byte) => byte === 0) ? 1 : 0));
        expect(Array.from(zeroSectors(view))).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });
});
