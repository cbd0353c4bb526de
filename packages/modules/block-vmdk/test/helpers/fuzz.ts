// What the VMDK fuzz tests share: a seeded generator, byte mutations in chosen ranges, and opening
// and reading a mutated image the way a user would.
import type { BlockNode, OpenRelative } from '@tessera/core';
import { vmdkFormat } from '../../src/driver.ts';
import { MemoryNode } from './memory-node.ts';

/** The codes a refusal may carry: anything else (a TypeError, a RangeError, a hang) is a bug. */
export const CODES = ['corrupt-image', 'unsupported-feature', 'invalid-option', 'unsupported-operation'];

/** xorshift32: the same cases on every run. */
export function generator(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}

/** One to four mutations (a random byte, a run of 0xff or 0, a flipped bit) inside `spots`. */
export function mutate(bytes: Uint8Array, spots: ReadonlyArray<readonly [number, number]>, random: () => number): Uint8Array {
  const copy = new Uint8Array(bytes); // a copy, also of a Buffer (whose slice() is a view)
  for (let n = 1 + Math.floor(random() * 4); n > 0; n--) {
    const [from, to] = spots[Math.floor(random() * spots.length)]!;
    const at = from + Math.floor(random() * (to - from));
    const choice = random();
    if (choice < 0.4) copy[at] = Math.floor(random() * 256);
    else if (choice < 0.6) copy.fill(0xff, at, Math.min(copy.length, at + 1 + Math.floor(random() * 8)));
    else if (choice < 0.8) copy.fill(0, at, Math.min(copy.length, at + 1 + Math.floor(random() * 8)));
    else copy[at] = copy[at]! ^ (1 << Math.floor(random() * 8));
  }
  return copy;
}

/**
 * Open and read what a user would: info, the start, the end and a few places between, block
 * status; with `check`, qemu's check too (which fails with its findings, not a code).
 */
export async function exercise(file: MemoryNode, extents: Record<string, Uint8Array>, options: { check?: boolean } = {}): Promise<void> {
  const openRelative: OpenRelative = async (name) => {
    const bytes = extents[name];
    if (!bytes) throw Object.assign(new Error(`Could not open '${name}': No such file or directory`), { code: 'corrupt-image' });
    return new MemoryNode(name, bytes);
  };
  let node: BlockNode | undefined;
  try {
    node = await vmdkFormat.open(file, { readOnly: true, driverOptions: {}, openRelative });
    node.describe?.();
    const piece = new Uint8Array(64 * 1024);
    const places = [0, node.size - piece.length, Math.floor(node.size / 3), Math.floor(node.size / 2)];
    for (const at of places) {
      if (at < 0 || at + piece.length > node.size) continue;
      await node.read(at - (at % 512), piece);
      await node.blockStatus?.(at - (at % 512), piece.length);
    }
    if (options.check) {
      await node.check?.('none').catch((error: { messages?: unknown; code?: string }) => {
        if (!Array.isArray(error.messages) && !CODES.includes(error.code ?? '')) throw error;
      });
    }
  } finally {
    await node?.close();
  }
}
