// The benches' source image: a used disk, not half data and half zeroes. Data and zero runs of
// 4-64 KiB interleave finely throughout (random lengths, fixed seed), about `dataShare` of it data,
// the data itself half random and half text-like (compressible).
import { randomFillSync } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';

/** A small deterministic generator (xorshift32), so every run of the bench measures the same image. */
function generator(seed) {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}

/** Data and zero runs of 4-64 KiB (4 KiB multiples) interleaved; zero runs are written zeroes, as in a used disk. */
export function makeFragmentedImage(path, size, dataShare) {
  const random = generator(0x5eed);
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(8 * 2 ** 20);
  const words = Buffer.from('the quick brown fox jumps over the lazy dog 0123456789 ');
  let filled = 0;
  let at = 0;
  let data = false;
  while (at < size) {
    const run = Math.min(size - at, (1 + Math.floor(random() * 16)) * 4096);
    data = random() < dataShare;
    if (data) {
      // Half random bytes (incompressible), half repeated text (compressible).
      if (random() < 0.5) for (let i = 0; i < run; i += 4) chunk.writeUInt32LE((random() * 2 ** 32) >>> 0, filled + i);
      else for (let i = 0; i < run; i++) chunk[filled + i] = words[(i + at) % words.length];
    } else chunk.fill(0, filled, filled + run);
    filled += run;
    at += run;
    if (filled > chunk.length - 65536 || at >= size) {
      writeSync(fd, chunk, 0, filled, at - filled);
      filled = 0;
    }
  }
  ftruncateSync(fd, size);
  closeSync(fd);
}

/** bench/convert.mjs's image: the first half random bytes, the second half written zeroes. */
export function makeHalvesImage(path, size) {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(8 * 2 ** 20);
  const half = Math.floor(size / 2 / 512) * 512;
  for (let at = 0; at < half; at += chunk.length) writeSync(fd, randomFillSync(chunk), 0, Math.min(chunk.length, half - at), at);
  chunk.fill(0);
  for (let at = half; at < size; at += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, size - at), at);
  ftruncateSync(fd, size);
  closeSync(fd);
}
