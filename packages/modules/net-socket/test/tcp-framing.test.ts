import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameReader, FramingError, MAX_FRAME_LENGTH } from '../src/tcp-framing.ts';
import { testFrame } from './helpers/ports.ts';

function reassemble(stream: Buffer, cuts: number[]): Buffer[] {
  const frames: Uint8Array[] = [];
  const reader = new FrameReader((frame) => frames.push(frame));
  let start = 0;
  for (const cut of [...cuts, stream.length]) {
    reader.push(stream.subarray(start, cut));
    start = cut;
  }
  return frames.map((frame) => Buffer.from(frame)); // Buffers compare fast
}

describe('TCP framing', () => {
  const frames = [testFrame(1, 60), testFrame(2, 1514), testFrame(3, 1), testFrame(4, MAX_FRAME_LENGTH)].map((frame) => Buffer.from(frame));
  const stream = Buffer.concat(frames.map(encodeFrame));

  it('puts a 4-byte big-endian length before each frame', () => {
    expect([...encodeFrame(Uint8Array.of(0xaa, 0xbb, 0xcc))]).toEqual([0, 0, 0, 3, 0xaa, 0xbb, 0xcc]);
    expect(encodeFrame(testFrame(9, 0x1234)).subarray(0, 4)).toEqual(Buffer.from([0, 0, 0x12, 0x34]));
  });

  it('reassembles coalesced frames', () => {
    expect(reassemble(stream, [])).toEqual(frames);
  });

  it('reassembles frames fed one byte at a time', () => {
    const cuts = Array.from({ length: 200 }, (_, i) => i + 1).concat([stream.length - 3, stream.length - 1]);
    expect(reassemble(stream, cuts)).toEqual(frames);
  });

  it('reassembles frames cut inside the length prefix and inside the frame', () => {
    expect(reassemble(stream, [2, 3, 64 + 4 + 2, 64 + 4 + 700, 64 + 4 + 1514 + 4 + 1])).toEqual(frames);
  });

  it('refuses zero and oversized lengths', () => {
    const reader = new FrameReader(() => {});
    expect(() => reader.push(Buffer.from([0, 0, 0, 0]))).toThrow(new FramingError('zero-length frame received'));
    expect(() => new FrameReader(() => {}).push(Buffer.from([0, 1, 0x10, 0x01]))).toThrow(
      `oversized frame received (69633 bytes, at most ${MAX_FRAME_LENGTH})`,
    );
    expect(() => new FrameReader(() => {}).push(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toThrow(/oversized frame/);
  });
});
