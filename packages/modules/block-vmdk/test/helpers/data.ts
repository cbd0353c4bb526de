/**
 * Test data that looks like a used disk: data and zero runs of 4-64 KiB interleaved, the data
 * half random, half repetitive (compressible). Deterministic for a seed.
 */
export function fragmentedData(size: number, seed: number): Buffer {
  let state = seed >>> 0 || 1;
  const random = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
  const data = Buffer.alloc(size);
  for (let at = 0; at < size; ) {
    const run = Math.min(size - at, (1 + Math.floor(random() * 16)) * 4096);
    if (random() < 0.5) {
      if (random() < 0.5) for (let i = 0; i + 4 <= run; i += 4) data.writeUInt32LE((random() * 2 ** 32) >>> 0, at + i);
      else data.fill(`run at ${at} `, at, at + run);
    }
    at += run;
  }
  return data;
}
