// The zero-tail scout on its own: which chunks it finds, where it stops, and what it reads.
import { describe, expect, it } from 'vitest';
import { ZeroTailScout, type ZeroTailSource } from '../src/image/zero-tail.ts';

const CHUNK = 4096;

/** Chunks held in memory; `statusZero` chunks report zeroes by block status (never read). */
function source(chunks: Uint8Array[], statusZero = new Set<number>(), failAt?: number): ZeroTailSource & { reads: number[] } {
  const reads: number[] = [];
  return {
    reads,
    knownZero: async (index) => statusZero.has(index),
    read: async (index, into) => {
      reads.push(index);
      if (index === failAt) throw new Error('EIO');
      into.set(chunks[index]!);
    },
    lengthOf: (index) => chunks[index]!.length,
    isZero: (data) => data.every((byte) => byte === 0),
  };
}

function image(count: number, dataAt: number[], lastLength = CHUNK): Uint8Array[] {
  return Array.from({ length: count }, (_, index) => {
    const chunk = new Uint8Array(index === count - 1 ? lastLength : CHUNK);
    if (dataAt.includes(index)) chunk[chunk.length - 1] = 7;
    return chunk;
  });
}

const buffers = (): [Uint8Array, Uint8Array] => [new Uint8Array(CHUNK), new Uint8Array(CHUNK)];
const found = (scout: ZeroTailScout, count: number) => Array.from({ length: count }, (_, i) => i).filter((i) => scout.isZero(i));

describe('ZeroTailScout', () => {
  it('finds the zero chunks at the end, from the last backwards, up to the first with data', async () => {
    const chunks = image(12, [2, 7]);
    const src = source(chunks);
    const scout = new ZeroTailScout(src, 12, buffers(), () => 0);
    await scout.finished;
    expect(found(scout, 12)).toEqual([8, 9, 10, 11]);
    expect(scout.tailChunks).toBe(4);
    // One chunk beyond is already being read when the data is found (two at a time).
    expect(src.reads).toEqual([11, 10, 9, 8, 7, 6]);
  });

  it('a short last chunk is read at its own length', async () => {
    const chunks = image(5, [0], 1000);
    const scout = new ZeroTailScout(source(chunks), 5, buffers(), () => 0);
    await scout.finished;
    expect(found(scout, 5)).toEqual([1, 2, 3, 4]);
  });

  it('finds nothing when the last chunk has data (two reads: one was already under way)', async () => {
    const src = source(image(6, [5]));
    const scout = new ZeroTailScout(src, 6, buffers(), () => 0);
    await scout.finished;
    expect(found(scout, 6)).toEqual([]);
    expect(src.reads).toEqual([5, 4]);
  });

  it('does not scout a tail that block status reports as zeroes: the workers skip it unread', async () => {
    const src = source(image(8, [1]), new Set([5, 6, 7]));
    const scout = new ZeroTailScout(src, 8, buffers(), () => 0);
    await scout.finished;
    expect(found(scout, 8)).toEqual([]);
    expect(src.reads).toEqual([]);
  });

  it('marks chunks block status reports as zeroes inside a tail it reads, without reading them', async () => {
    const src = source(image(8, [1]), new Set([4, 5]));
    const scout = new ZeroTailScout(src, 8, buffers(), () => 0);
    await scout.finished;
    expect(found(scout, 8)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(src.reads).toEqual([7, 6, 3, 2, 1]);
  });

  it('stops where the workers are: it never looks at a chunk they have taken', async () => {
    let workersAt = 0;
    const chunks = image(10, []);
    const src = source(chunks);
    // The workers take chunks as the scout reads: two per scouted chunk.
    const read = src.read;
    src.read = async (index, into) => {
      workersAt += 2;
      return read(index, into);
    };
    const scout = new ZeroTailScout(src, 10, buffers(), () => workersAt);
    await scout.finished;
    expect(Math.min(...src.reads)).toBeGreaterThan(0);
    for (const index of src.reads) expect(scout.isZero(index)).toBe(true);
    expect(found(scout, 10)).toEqual([7, 8, 9]);
  });

  it('a read error ends the scouting quietly; what was found before stays; no read outlives it', async () => {
    const src = source(image(6, []), new Set(), 3);
    let settled = 0;
    const read = src.read;
    src.read = async (index, into) => {
      await new Promise((resolve) => setTimeout(resolve, index === 2 ? 30 : 1));
      try {
        return await read(index, into);
      } finally {
        settled++;
      }
    };
    const scout = new ZeroTailScout(src, 6, buffers(), () => 0);
    await expect(scout.finished).resolves.toBeUndefined();
    expect(settled).toBe(src.reads.length);
    expect(src.reads).toEqual([5, 4, 3, 2]);
    expect(found(scout, 6)).toEqual([4, 5]);
  });
});
