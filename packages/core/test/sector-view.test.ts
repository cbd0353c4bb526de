// The block layer's whole-sector view of an image whose size is not whole sectors: the tail reads
// as zeroes, the node's optional operations stay visible (a command asks the node for them), and
// a read past the end is refused with a code.
import { describe, expect, it } from 'vitest';
import { blockErrorCode } from '../src/block/errors.ts';
import { sectorAligned } from '../src/block/sector-view.ts';
import type { BlockNode } from '../src/block/types.ts';

function node(bytes: Uint8Array, extra: Partial<BlockNode> = {}): BlockNode {
  return {
    driver: 'test',
    filename: 'odd.img',
    size: bytes.length,
    readOnly: false,
    async read(offset, into) {
      into.set(bytes.subarray(offset, offset + into.length));
    },
    async write() {},
    async flush() {},
    async close() {},
    ...extra,
  };
}

describe('sectorAligned', () => {
  it('reads a 1000-byte node as 1024 bytes, the tail zeroes; past the end is out-of-range', async () => {
    const view = sectorAligned(node(new Uint8Array(1000).fill(7)), true);
    expect(view.size).toBe(1024);
    const tail = new Uint8Array(48);
    await view.read(976, tail);
    expect([...tail.subarray(0, 24)].every((byte) => byte === 7)).toBe(true);
    expect([...tail.subarray(24)].every((byte) => byte === 0)).toBe(true);
    const error = await view.read(1000, new Uint8Array(512)).catch((failure: unknown) => failure);
    expect(blockErrorCode(error)).toBe('out-of-range');
  });

  it("keeps the node's optional operations, and only those", async () => {
    const calls: string[] = [];
    const view = sectorAligned(
      node(new Uint8Array(1000), {
        writeCompressed: async (offset) => void calls.push(`compressed ${offset}`),
        makeEmpty: async () => void calls.push('empty'),
        internalSnapshots: { create: async () => {}, apply: async () => {}, delete: async () => {} },
      }),
      false,
    );
    await view.writeCompressed!(0, new Uint8Array(512));
    await view.makeEmpty!();
    expect(calls).toEqual(['compressed 0', 'empty']);
    expect(view.internalSnapshots).toBeDefined();
    expect(view.resize).toBeUndefined();
    expect(view.setBacking).toBeUndefined();
  });

  it('past the end of a direct (raw) node, status is the file\'s trailing hole; of another, zeroes', async () => {
    const direct = sectorAligned(node(new Uint8Array(1000)), true);
    expect(await direct.blockStatus!(1000, 24)).toEqual({ length: 24, zero: true, data: false, allocated: true, offset: 1000, file: 'odd.img' });
    const other = sectorAligned(node(new Uint8Array(1000)), false);
    expect(await other.blockStatus!(1000, 24)).toEqual({ length: 24, zero: true, data: false });
  });
});
