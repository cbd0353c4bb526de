// The bzip2 decompressor against Debian's bzip2 as the compressor: several block sizes, runs,
// random data, concatenated streams; corrupt input is refused, never more than asked is produced.
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { bunzip2, Bzip2Error } from '../src/bzip2.ts';

const bzip2 = (data: Uint8Array, level = 9): Uint8Array => new Uint8Array(execFileSync('bzip2', [`-${level}`, '-c'], { input: data }));

function sample(seed: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; ) {
    x = (x * 1103515245 + 12345) >>> 0;
    const kind = x % 4;
    const len = 1 + ((x >>> 8) % 3000);
    for (let k = 0; k < len && i < size; k++, i++) {
      out[i] = kind === 0 ? 0 : kind === 1 ? (x >>> 16) & 0xff : kind === 2 ? (i * 7) & 0xff : (Math.imul(x, i + 1) >>> 24) & 0xff;
    }
  }
  return out;
}

it('decompresses what bzip2 compresses, byte for byte', () => {
  for (const [seed, size, level] of [
    [1, 0, 9],
    [2, 1, 9],
    [3, 4096, 1],
    [4, 250_000, 1], // several blocks at level 1
    [5, 300_000, 9],
  ] as const) {
    const data = sample(seed, size);
    expect(Buffer.from(bunzip2(bzip2(data, level), size)).equals(Buffer.from(data)), `seed ${seed}`).toBe(true);
  }
  const runs = new Uint8Array(70_000).fill(0x41);
  expect(Buffer.from(bunzip2(bzip2(runs), runs.length)).equals(Buffer.from(runs))).toBe(true);
  const a = sample(6, 1000);
  const b = sample(7, 2000);
  expect(Buffer.from(bunzip2(Buffer.concat([bzip2(a), bzip2(b)]), 3000)).equals(Buffer.concat([a, b]))).toBe(true);
});

it('refuses corrupt or oversized data with Bzip2Error, within bounds', () => {
  const data = sample(8, 20_000);
  const packed = bzip2(data);
  expect(() => bunzip2(packed, 19_999)).toThrow(Bzip2Error);
  expect(() => bunzip2(packed, 20_001)).toThrow(Bzip2Error);
  expect(() => bunzip2(packed.subarray(0, packed.length - 10), 20_000)).toThrow(Bzip2Error);
  let seed = 99;
  for (let i = 0; i < 300; i++) {
    const copy = packed.slice();
    for (let k = 0; k < 1 + (i % 4); k++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const at = 4 + (seed % (copy.length - 4));
      copy[at] = copy[at]! ^ (1 << ((seed >>> 8) & 7));
    }
    try {
      const out = bunzip2(copy, 20_000);
      expect(out.length).toBe(20_000);
    } catch (error) {
      expect(error).toBeInstanceOf(Bzip2Error);
    }
  }
});
