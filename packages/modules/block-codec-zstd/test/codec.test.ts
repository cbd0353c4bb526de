// The zstd codec from source: a cluster round-trips; the frame walk finds a frame's end among the
// bytes that follow it in a qcow2 file; and a bounded fuzz of mutated and truncated frames gives
// each time either exactly the cluster's size or a coded `corrupt-image` error (no other
// exception, no hang, no allocation beyond the cluster).
import { describe, expect, it } from 'vitest';
import { seeded } from '../../../../tools/test-support/memory-node.ts';
import codecModule from '../src/index.ts';
import { zstdEngine } from '../src/codec.ts';
import { zstdFrame } from '../src/frame.ts';
import type { BlockCodec } from '@tessera/core';

let codec: BlockCodec;
codecModule.inits[0]!.init({ registerCodec: (c: BlockCodec) => (codec = c) } as never);

const CLUSTER = 4096;
function cluster(seed: number): Uint8Array {
  const next = seeded(seed);
  const data = new Uint8Array(CLUSTER);
  for (let i = 0; i < CLUSTER; i += 64) data.fill(next() % 3 === 0 ? next() & 0xff : 0, i, i + 64);
  return data;
}

describe('zstd codec', () => {
  it('round-trips a cluster with trailing bytes after the frame, and reports its engine', async () => {
    const data = cluster(1);
    const frame = await codec.compress(data);
    expect(frame.length).toBeLessThan(CLUSTER);
    expect(zstdFrame(frame).length).toBe(frame.length);
    const stored = new Uint8Array(frame.length + 511).fill(0xaa); // padded to the sector, as qcow2 stores it
    stored.set(frame);
    expect(await codec.decompress(stored, CLUSTER)).toEqual(data);
    await expect(codec.decompress(stored, CLUSTER * 2)).rejects.toMatchObject({ code: 'corrupt-image' });
    expect(['wasm', 'node:zlib']).toContain((await zstdEngine()).name);
  });

  it('fuzz: 400 mutated or truncated frames: the cluster or a corrupt-image error', async () => {
    const next = seeded(0x5a5a);
    const frames = await Promise.all([1, 2, 3, 4].map(async (s) => codec.compress(cluster(s))));
    let refused = 0;
    for (let round = 0; round < 400; round++) {
      const base = frames[round % frames.length]!;
      const bytes = new Uint8Array(base.length + 16);
      bytes.set(base);
      const kind = next() % 3;
      if (kind === 0) for (let n = 1 + (next() % 3); n > 0; n--) bytes[next() % Math.min(bytes.length, 24)] = next() & 0xff; // header
      else if (kind === 1) {
        const at = next() % base.length;
        bytes[at] = bytes[at]! ^ (1 << (next() % 8)); // anywhere
      }
      const input = kind === 2 ? bytes.subarray(0, next() % base.length) : bytes; // truncated
      try {
        const out = await codec.decompress(input, CLUSTER);
        expect(out.length).toBe(CLUSTER);
      } catch (error) {
        expect((error as { code?: string }).code, String(error)).toBe('corrupt-image');
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(100);
  });
});
