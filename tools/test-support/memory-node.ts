import type { BlockNode } from '@tessera/core';

/** Image bytes as a read-only protocol node, for driver-level tests (fuzzing) without files. */
export function memoryNode(bytes: Uint8Array, filename = 'memory.img'): BlockNode {
  return {
    driver: 'file',
    filename,
    size: bytes.length,
    readOnly: true,
    async read(offset, into) {
      if (offset < 0 || offset + into.length > bytes.length) throw new Error(`read of ${into.length} bytes at ${offset} is past the end (${bytes.length})`);
      into.set(bytes.subarray(offset, offset + into.length));
    },
    async write() {
      throw new Error('read-only');
    },
    async flush() {},
    async close() {},
  };
}

/** A deterministic pseudo-random sequence (fuzz tests must replay). */
export function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/**
 * Open `bytes` with `open` and read it all (at most `limit` bytes, in 64 KiB pieces): it must
 * either work or fail with a coded error (corrupt-image, unsupported-feature), never otherwise.
 */
export async function openAndReadAll(open: (file: BlockNode) => Promise<BlockNode>, bytes: Uint8Array, limit = 8 << 20): Promise<string> {
  try {
    const node = await open(memoryNode(bytes));
    const piece = new Uint8Array(64 * 1024);
    for (let at = 0; at < Math.min(node.size, limit); at += piece.length) {
      await node.read(at, piece.subarray(0, Math.min(piece.length, node.size - at)));
    }
    await node.close();
    return 'ok';
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'corrupt-image' || code === 'unsupported-feature') return code;
    throw error;
  }
}
