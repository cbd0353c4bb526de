// convert's joining of a chunk's data runs onto a qcow2 target: fewer, cluster-aligned writes that
// allocate exactly the clusters the runs would have (so the output is the same, byte for byte).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { joinAcrossPartialUnits } from '../src/image/coalesce.ts';

const SECTOR = 512;

/** Sorted, non-overlapping, sector-aligned ranges within a chunk of `sectors` sectors. */
const chunkRanges = fc.integer({ min: 1, max: 600 }).chain((sectors) =>
  fc.uniqueArray(fc.integer({ min: 0, max: sectors }), { maxLength: 24 }).map((cuts) => {
    const points = [...cuts].sort((a, b) => a - b);
    const ranges: Array<[number, number]> = [];
    for (let i = 0; i + 1 < points.length; i += 2) ranges.push([points[i]! * SECTOR, points[i + 1]! * SECTOR]);
    return { length: sectors * SECTOR, ranges };
  }),
);

function unitsOf(ranges: ReadonlyArray<[number, number]>, offset: number, unit: number): number[] {
  const units = new Set<number>();
  for (const [start, end] of ranges) for (let u = Math.floor((offset + start) / unit); u * unit < offset + end; u++) units.add(u);
  return [...units].sort((a, b) => a - b);
}

describe('joinAcrossPartialUnits', () => {
  it('touches the same units as the runs, covers them, and leaves a whole unit between writes', () => {
    fc.assert(
      fc.property(chunkRanges, fc.constantFrom(512, 4096, 65536), fc.integer({ min: 0, max: 3 }), ({ length, ranges }, unit, chunkIndex) => {
        const offset = chunkIndex * 2 * 1024 * 1024;
        const joined = joinAcrossPartialUnits(ranges, offset, length, unit);
        expect(unitsOf(joined, offset, unit)).toEqual(unitsOf(ranges, offset, unit));
        for (const [start, end] of ranges) expect(joined.some(([from, to]) => from <= start && end <= to)).toBe(true);
        joined.forEach(([from, to], i) => {
          expect(from % unit).toBe(0);
          expect(to % unit === 0 || to === length).toBe(true);
          if (i > 0) expect(from - joined[i - 1]![1]).toBeGreaterThanOrEqual(unit);
        });
      }),
      { numRuns: 2000 },
    );
  });
});
