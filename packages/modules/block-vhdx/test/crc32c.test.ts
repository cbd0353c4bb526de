// CRC-32C as the table-driven code computes it (eight bytes a step, 256 zero bytes a step) must
// equal the definition taken one bit at a time, on buffers that mix data with zero runs of every
// length around the 256-byte step, at every alignment, and with the skipped checksum field.
import { describe, expect, it } from 'vitest';
import { crc32c } from '../src/crc32c.ts';

/** The definition: reflected CRC-32C (polynomial 0x82f63b78), one bit at a time. */
function crc32cBitwise(bytes: Uint8Array, skipAt = -1): number {
  let crc = 0xffffffff;
  bytes.forEach((value, i) => {
    crc ^= skipAt >= 0 && i >= skipAt && i < skipAt + 4 ? 0 : value;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  });
  return (crc ^ 0xffffffff) >>> 0;
}

/** Small deterministic generator, so a failure repeats. */
function generator(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

describe('crc32c', () => {
  it('gives the check value of the CRC catalogue', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });

  it('equals the bitwise definition on data interleaved with zero runs', () => {
    const random = generator(0x2c32);
    for (let round = 0; round < 60; round++) {
      const bytes = new Uint8Array(Math.floor(random() * 5000));
      for (let at = 0; at < bytes.length; ) {
        const run = Math.floor(random() * 700);
        if (random() < 0.5) for (let i = at; i < Math.min(bytes.length, at + run); i++) bytes[i] = Math.floor(random() * 256);
        at += run;
      }
      // A sub-array at an odd offset and a checksum field anywhere (also in a zero run).
      const start = Math.floor(random() * 7);
      const part = bytes.subarray(start);
      const skipAt = round % 3 === 0 ? -1 : Math.floor(random() * part.length);
      expect(crc32c(part, skipAt)).toBe(crc32cBitwise(part, skipAt));
    }
  });

  it('equals the bitwise definition on all-zero buffers around the zero-run step', () => {
    for (const length of [0, 1, 255, 256, 257, 511, 512, 513, 4096, 65536 + 3]) {
      expect(crc32c(new Uint8Array(length))).toBe(crc32cBitwise(new Uint8Array(length)));
    }
  });
});
