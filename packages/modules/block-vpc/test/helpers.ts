// Shared by the vpc and vhdx tests: a temp dir, qemu-img/qemu-io, the built tessera-img, a
// fragmented source image, and an in-memory file node for driver-level (fuzz) tests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlockNode } from '@tessera/core';
import { executable, run, type Configuration, type RunResult } from '../../../../tools/test-support/executables.ts';

export const MiB = 1 << 20;

export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Run a program in `dir`; its stdout. Throws (with stderr) on failure. */
export const sh = (dir: string, file: string, args: readonly string[]): string => execFileSync(file, [...args], { cwd: dir, encoding: 'utf8' });

export const qemuIo = (dir: string, image: string, format: string, ...commands: string[]): string =>
  sh(dir, 'qemu-io', ['-f', format, ...commands.flatMap((c) => ['-c', c]), image]);

export function tool(configuration: Configuration, dir: string, ...args: string[]): Promise<RunResult> {
  return run(executable('img-tool', configuration), args, { cwd: dir });
}

/** A deterministic pseudo-random generator (xorshift32), for data and fuzz cases. */
export function rng(seed: number): () => number {
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
 * A raw image whose data and zero runs interleave finely and coarsely (sector-sized runs, runs
 * across block boundaries, whole empty blocks), so block maps and partial blocks are exercised.
 */
export function writeFragmentedRaw(path: string, size: number, seed = 1): Buffer {
  const next = rng(seed);
  const data = Buffer.alloc(size);
  let at = 0;
  while (at < size) {
    const kind = next() % 4;
    const run = kind === 0 ? 512 * (1 + (next() % 8)) : kind === 1 ? 4096 * (1 + (next() % 64)) : 65536 * (1 + (next() % 24));
    const length = Math.min(run, size - at);
    if (next() % 2 === 0) for (let i = 0; i < length; i += 4) data.writeUInt32LE(next(), at + i);
    at += length;
  }
  writeFileSync(path, data);
  return data;
}

/** A file held in memory: the `file` node a format driver is given, for driver-level tests. */
export class MemoryNode implements BlockNode {
  readonly driver = 'file';
  readonly readOnly: boolean;
  bytes: Uint8Array;

  constructor(
    bytes: Uint8Array,
    readonly filename = 'mem.img',
    readOnly = false,
  ) {
    this.bytes = bytes;
    this.readOnly = readOnly;
  }
  get size(): number {
    return this.bytes.length;
  }
  async read(offset: number, into: Uint8Array): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + into.length > this.bytes.length) {
      throw new Error(`read of ${into.length} bytes at ${offset} is beyond the end (${this.bytes.length})`);
    }
    into.set(this.bytes.subarray(offset, offset + into.length));
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.readOnly) throw new Error('read-only');
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + data.length > 1 << 30) throw new Error(`write at ${offset} is out of bounds`);
    if (offset + data.length > this.bytes.length) {
      const grown = new Uint8Array(offset + data.length);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes.set(data, offset);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/** A local file as a format driver's `file` node (test-only, through node:fs), for images too large to hold in memory. */
export async function openFileNode(path: string): Promise<BlockNode> {
  const { open } = await import('node:fs/promises');
  const handle = await open(path, 'r+');
  let size = (await handle.stat()).size;
  return {
    driver: 'file',
    filename: path,
    readOnly: false,
    get size() {
      return size;
    },
    async read(offset, into) {
      if (offset + into.length > size) throw new Error(`read past the end of ${path}`);
      await handle.read(into, 0, into.length, offset);
    },
    async write(offset, data) {
      await handle.write(data, 0, data.length, offset);
      size = Math.max(size, offset + data.length);
    },
    async resize(newSize) {
      await handle.truncate(newSize);
      size = newSize;
    },
    flush: () => handle.sync(),
    close: () => handle.close(),
  };
}
