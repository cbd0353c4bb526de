// The zero checks convert, compare and -S rest on: a byte missed here would drop data silently.
import { describe, expect, it } from 'vitest';
import { firstDifferentSector, firstNonZeroSector, isZero } from '../src/image/zero.ts';

/** Lengths around the 64-byte head isZero compares directly, a sector, and a long odd range. */
const LENGTHS = [0, 1, 2, 63, 64, 65, 66, 127, 128, 129, 511, 512, 513, 4099];

/** Where a lone non-zero byte is put in a range of `length`: every place near the edges, some inside. */
function placesIn(length: number): number[] {
  const places = new Set<number>();
  for (let at = 0; at < Math.min(length, 130); at++) places.add(at);
  for (let at = Math.max(0, length - 130); at < length; at++) places.add(at);
  for (let at = 0; at < length; at += 97) places.add(at);
  return [...places];
}

describe('isZero', () => {
  it('says zero for ranges of zeroes of every length', () => {
    for (const length of LENGTHS) expect(isZero(new Uint8Array(length)), `length ${length}`).toBe(true);
  });

  it('finds a lone non-zero byte wherever it is', () => {
    for (const length of LENGTHS) {
      for (const at of placesIn(length)) {
        const data = new Uint8Array(length);
        for (const value of [1, 0x80, 0xff]) {
          data[at] = value;
          expect(isZero(data), `length ${length}, byte ${at} = ${value}`).toBe(false);
        }
      }
    }
  });

  it('finds a repeating non-zero pattern (a range equal to itself shifted is not zero for that)', () => {
    for (const period of [1, 2, 32, 64, 128]) {
      const data = new Uint8Array(4096);
      for (let at = 0; at < data.length; at += period) data[at] = 5;
      expect(isZero(data), `period ${period}`).toBe(false);
    }
  });

  it('looks only at [start, end)', () => {
    for (const length of LENGTHS) {
      const data = new Uint8Array(length + 200).fill(9);
      data.fill(0, 100, 100 + length);
      expect(isZero(data, 100, 100 + length), `length ${length}`).toBe(true);
      if (length > 0) {
        expect(isZero(data, 99, 100 + length), `length ${length}, one before`).toBe(false);
        expect(isZero(data, 100, 101 + length), `length ${length}, one after`).toBe(false);
      }
    }
  });

  it('works on a view into a larger buffer', () => {
    const backing = new Uint8Array(8192).fill(3);
    const view = backing.subarray(1000, 1000 + 4096);
    view.fill(0);
    expect(isZero(view)).toBe(true);
    view[4095] = 1;
    expect(isZero(view)).toBe(false);
  });
});

describe('firstNonZeroSector', () => {
  it('names the sector of the first non-zero byte, or -1', () => {
    const data = new Uint8Array(4 * 512);
    expect(firstNonZeroSector(data)).toBe(-1);
    data[3 * 512 + 511] = 1;
    expect(firstNonZeroSector(data)).toBe(3 * 512);
    data[512 + 64] = 1;
    expect(firstNonZeroSector(data)).toBe(512);
  });
});

describe('firstDifferentSector', () => {
  it('names the sector of the first difference, or -1', () => {
    const a = new Uint8Array(4 * 512).fill(7);
    const b = a.slice();
    expect(firstDifferentSector(a, b)).toBe(-1);
    b[2 * 512 + 100] = 8;
    expect(firstDifferentSector(a, b)).toBe(2 * 512);
  });
});
