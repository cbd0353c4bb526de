// One inflate (deflate) state serves grain after grain: each stream inflates to its own bytes whatever came
// before it (a damaged stream, one too long, a truncated one), and a stream that does not fit its
// grain or does not end is told apart from one that does.
import { randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ReusedZlib } from '../src/reused-zlib.ts';

const GRAIN = 64 * 1024;
const grainOf = (fill: 'random' | 'text', seed: number) =>
  fill === 'random' ? randomBytes(GRAIN) : Buffer.alloc(GRAIN, `grain ${seed} of text-like bytes; `);

describe.each([
  ['reusing one zlib state', true],
  ['through the *Sync fallback', false],
])('ReusedZlib %s', (_path, reuse) => {
  it('inflates stream after stream into the caller buffer, and recovers after bad ones', () => {
    const inflater = new ReusedZlib(undefined, reuse);
    const into = new Uint8Array(GRAIN);
    const good = [grainOf('random', 1), grainOf('text', 2), grainOf('random', 3), grainOf('text', 4)];
    const streams = good.map((bytes) => deflateSync(bytes));
    const tooLong = deflateSync(Buffer.concat([grainOf('text', 5), Buffer.from('x')]));
    const short = deflateSync(grainOf('text', 6).subarray(0, GRAIN - 512));
    const truncated = streams[1]!.subarray(0, streams[1]!.length - 9);
    const damaged = Buffer.from(streams[0]!);
    damaged[damaged.length - 1]! ^= 0xff; // the Adler-32 checksum

    const outcomes = [];
    for (const [name, stream, expected] of [
      ['random', streams[0]!, good[0]!],
      ['too long', tooLong, undefined],
      ['text', streams[1]!, good[1]!],
      ['truncated', truncated, undefined],
      ['random again', streams[2]!, good[2]!],
      ['damaged', damaged, undefined],
      ['text again', streams[3]!, good[3]!],
      ['short', short, undefined],
      ['first again', streams[0]!, good[0]!],
    ] as const) {
      into.fill(0xee);
      const result = inflater.run(stream, into);
      outcomes.push([name, typeof result === 'string' ? 'error' : result]);
      if (expected) expect(Buffer.from(into).equals(expected), name).toBe(true);
    }
    expect(outcomes).toEqual([
      ['random', GRAIN],
      ['too long', GRAIN + 1],
      ['text', GRAIN],
      ['truncated', 'error'],
      ['random again', GRAIN],
      ['damaged', 'error'],
      ['text again', GRAIN],
      ['short', GRAIN - 512],
      ['first again', GRAIN],
    ]);
  });

  it('deflates grain after grain to the very bytes deflateSync makes at that level', () => {
    const deflater = new ReusedZlib(6, reuse);
    for (const [fill, seed] of [['text', 1], ['random', 2], ['text', 3], ['random', 4], ['text', 5]] as const) {
      const bytes = grainOf(fill, seed);
      const into = new Uint8Array(GRAIN + 1024);
      const size = deflater.run(bytes, into);
      expect(typeof size).toBe('number');
      expect(Buffer.from(into.subarray(0, size as number)).equals(deflateSync(bytes, { level: 6 })), `${fill} ${seed}`).toBe(true);
    }
  });
});
