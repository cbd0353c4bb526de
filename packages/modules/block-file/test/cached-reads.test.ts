// Reads served from the page cache at once (preadv2 with RWF_NOWAIT through the addon), the rest
// through libuv's thread pool. Data written with O_DIRECT is not in the page cache, so these
// files start uncached: the addon must then read less than asked (not wait for the disk), and the
// file protocol must still return every byte, whichever part the cache held.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileProtocol } from '../src/file-protocol.ts';
import { ofdLocks } from '../src/native-lock.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-cached-reads-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1024 * 1024;

// The one piece of the WebAssembly API used here (the project's type libraries leave it out).
declare const WebAssembly: { Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer } };

/** A file of `bytes` written around the page cache; O_DIRECT needs page-aligned memory, as wasm memory is. */
function uncachedFile(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  const aligned = new Uint8Array(new WebAssembly.Memory({ initial: bytes.length / 65536 }).buffer);
  aligned.set(bytes);
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT);
  try {
    expect(writeSync(fd, aligned, 0, aligned.length, 0)).toBe(aligned.length);
  } finally {
    closeSync(fd);
  }
  return path;
}

describe('reads from the page cache', () => {
  it('reads cached bytes at once, and less than asked (never waiting) for bytes not in the cache', () => {
    const { readCached } = ofdLocks();
    const contents = randomBytes(MiB);
    let misses = 0;
    // The first read of an uncached file finds its pages absent or still being read in. Four
    // files: a device fast enough to finish its read-ahead inside the call can hide one miss.
    for (let i = 0; i < 4; i++) {
      const fd = openSync(uncachedFile(`cold-${i}.raw`, contents), 'r');
      try {
        const into = new Uint8Array(64 * 1024);
        const got = readCached(fd, into, 0, into.length, 512 * 1024);
        expect(got).toBeLessThanOrEqual(into.length);
        if (got < into.length) misses++;
        else expect(Buffer.from(into).equals(contents.subarray(512 * 1024, 576 * 1024))).toBe(true);
      } finally {
        closeSync(fd);
      }
    }
    expect(misses).toBeGreaterThan(0);

    // Once read, the same bytes come from the cache, into the part of the array asked for.
    const path = join(dir, 'cold-0.raw');
    const fd = openSync(path, 'r');
    try {
      expect(readSync(fd, new Uint8Array(MiB), 0, MiB, 0)).toBe(MiB); // an ordinary read fills the cache
      const into = new Uint8Array(300_000).fill(7);
      expect(readCached(fd, into, 1000, 200_000, 12_345)).toBe(200_000);
      expect(Buffer.from(into.subarray(1000, 201_000)).equals(contents.subarray(12_345, 212_345))).toBe(true);
      expect(into[999]).toBe(7);
      expect(into[201_000]).toBe(7);
      // At the end of the file it reads what there is; past it, nothing.
      expect(readCached(fd, into, 0, 4096, MiB - 100)).toBe(100);
      expect(readCached(fd, into, 0, 4096, MiB)).toBe(0);
      // A range outside the array is refused before any system call.
      expect(() => readCached(fd, into, 299_000, 2000, 0)).toThrow(/within the array/);
    } finally {
      closeSync(fd);
    }
    // A descriptor that is not open: an error carrying its errno (EBADF), which the file protocol takes as "not offered".
    expect(() => readCached(fd, new Uint8Array(16), 0, 16, 0)).toThrow(expect.objectContaining({ errno: 9 }));
  });

  it('returns every byte of a read whose data is partly, wholly or not at all in the cache', async () => {
    const contents = randomBytes(8 * MiB);
    const path = uncachedFile('mixed.raw', contents);
    const node = await fileProtocol.open(path, { readOnly: true, driverOptions: {} });
    try {
      // Uncached, then warm (read-ahead of the first has brought some in), then one spanning both.
      for (const [offset, length] of [
        [3 * MiB + 17, 100_000],
        [3 * MiB, 300_000],
        [0, 8 * MiB],
        [8 * MiB - 4096, 4096],
      ] as const) {
        const into = new Uint8Array(length);
        await node.read(offset, into);
        expect(Buffer.from(into).equals(contents.subarray(offset, offset + length))).toBe(true);
      }
    } finally {
      await node.close();
    }
  });

  it('fails a read of a file cut short behind its back, naming where, with the cached part read', async () => {
    const path = join(dir, 'shrinks.raw');
    writeFileSync(path, randomBytes(2 * MiB));
    const node = await fileProtocol.open(path, { readOnly: true, driverOptions: {} });
    try {
      truncateSync(path, MiB + 4096); // another process cuts it: the node still believes 2 MiB
      await expect(node.read(MiB, new Uint8Array(MiB))).rejects.toThrow(`${path}: file shrank while reading at ${MiB + 4096}`);
    } finally {
      await node.close();
    }
  });
});

