// What the tests of the image-format modules share: a scratch directory with qemu-img/qemu-io, a
// fragmented raw source, the comparisons against qemu-img (info, map, check, compare), and an
// in-memory file for fuzzing a driver's parser in-process.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { BlockFormatDriver, BlockNode } from '../../packages/core/src/index.ts';
import { run, type RunResult } from './executables.ts';
import { qemuImgOrThrow, qemuImgRun } from './qemu-img.ts';

export interface Scratch {
  readonly dir: string;
  path(name: string): string;
  qemuImg(...args: string[]): string;
  /** qemu-img's exit code and output, whatever the exit code, its program name as ours. */
  qemuImgResult(...args: string[]): RunResult;
  qemuIo(image: string, ...commands: string[]): string;
  /** Run the built tessera-img in the scratch directory. */
  ours(exe: string, ...args: string[]): Promise<RunResult>;
  remove(): void;
}

export function scratch(prefix: string): Scratch {
  const dir = mkdtempSync(join(tmpdir(), `tessera-${prefix}-`));
  const sh = (file: string, args: string[]) => execFileSync(file, args, { cwd: dir, encoding: 'utf8' });
  return {
    dir,
    path: (name) => join(dir, name),
    qemuImg: (...args) => qemuImgOrThrow(args, { cwd: dir }),
    qemuImgResult: (...args) => {
      const result = qemuImgRun(args, { cwd: dir });
      return { code: result.code, stdout: result.stdout, stderr: result.stderr.replace(/^qemu-img:/gm, 'tessera-img:') };
    },
    qemuIo: (image, ...commands) => sh('qemu-io', [...commands.flatMap((c) => ['-c', c]), image]),
    ours: (exe, ...args) => run(exe, args, { cwd: dir }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A raw image of `size` bytes whose data and zero runs interleave at several scales (deterministic
 * bytes, unaligned run edges), so table walks meet allocated, unallocated and partial clusters.
 */
export function writeFragmentedRaw(file: string, size = 6 * 2 ** 20): void {
  const bytes = new Uint8Array(size);
  let seed = 0x2545f491;
  const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
  const runs = [[0, 70_000], [200_000, 5_000], [1_100_000, 1_300_000], [2_600_000, 4_097], [3_000_000, 900_000], [size - 10_000, 10_000]];
  for (const [start, length] of runs) for (let i = start!; i < Math.min(size, start! + length!); i++) bytes[i] = next() | 1;
  writeFileSync(file, bytes);
}

/**
 * `info` (human and JSON), `map` (JSON; human with `humanMap`), `check` (human; JSON with
 * `jsonCheck`; none with `check: false`) and the guest bytes of `image` as qemu-img has them. Our
 * runs go in parallel: they only read.
 */
export async function expectReadAsQemu(
  s: Scratch,
  exe: string,
  format: string,
  image: string,
  { map = true, humanMap = false, check = true, jsonCheck = false, bytes = true } = {},
): Promise<void> {
  const commands: string[][] = [['info', '--output=human'], ['info', '--output=json']];
  if (map) commands.push(['map', '--output=json'], ...(humanMap ? [['map', '--output=human']] : []));
  if (check) commands.push(['check', '--output=human'], ...(jsonCheck ? [['check', '--output=json']] : []));
  const ours = await Promise.all(commands.map((args) => s.ours(exe, ...args, image)));
  commands.forEach((args, i) => expect({ args, ...ours[i] }).toEqual({ args, ...s.qemuImgResult(...args, image) }));
  if (bytes) await expectSameGuestBytes(s, exe, format, image);
}

/** Our raw conversion of `image` holds the guest bytes qemu-img reads. */
export async function expectSameGuestBytes(s: Scratch, exe: string, format: string, image: string): Promise<void> {
  const out = `${image}.ours.raw`;
  const convert = await s.ours(exe, 'convert', '-O', 'raw', image, out);
  expect(convert).toEqual({ code: 0, stdout: '', stderr: '' });
  expect(s.qemuImg('compare', '-f', format, '-F', 'raw', image, out)).toBe('Images are identical.\n');
}

/** The files' sha256 (comparing digests: vitest's deep equality of large buffers is slow). */
export function digestOf(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** An image written here passes qemu-img check (when qemu checks the format) and compares equal to `raw`. */
export function expectQemuAccepts(s: Scratch, format: string, image: string, raw: string, { checks = true } = {}): void {
  if (checks) expect(s.qemuImgResult('check', '-f', format, image)).toMatchObject({ code: 0, stderr: '' });
  expect(s.qemuImg('compare', '-f', format, '-F', 'raw', image, raw)).toBe('Images are identical.\n');
}

/** A file in memory: what a format driver reads and writes, for fuzzing its parser in-process. */
export class MemoryFile implements BlockNode {
  readonly driver = 'file';
  readonly filename = 'fuzzed-image';
  readonly readOnly = false;
  constructor(public bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.length;
  }
  async read(offset: number, into: Uint8Array): Promise<void> {
    if (offset < 0 || offset + into.length > this.bytes.length) throw new Error(`read of ${into.length} bytes at ${offset} is beyond the end (${this.bytes.length})`);
    into.set(this.bytes.subarray(offset, offset + into.length));
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    if (offset + data.length > 64 * 2 ** 20) throw new Error('the fuzzed file would grow past 64 MiB');
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

/**
 * Open `count` mutations of `image` (bytes at the given offsets, or anywhere in the first `span`
 * bytes, overwritten with random or boundary values; deterministic seed) with `driver`, then read
 * the disk (its first and last 256 KiB), its block status and its check. Every failure must be an
 * Error with a message, none a TypeError or RangeError (a crash), and each case must end quickly
 * in bounded memory.
 */
export async function fuzzDriver(driver: BlockFormatDriver, image: Uint8Array, fields: readonly number[], { count = 250, span = 1024, openOptions = {} } = {}): Promise<{ opened: number; refused: number }> {
  let seed = 12345;
  const random = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  const boundary = [0x00, 0xff, 0x7f, 0x80, 0x01];
  let opened = 0;
  let refused = 0;
  for (let i = 0; i < count; i++) {
    const bytes = image.slice();
    for (let m = 0, n = 1 + random(3); m < n; m++) {
      const at = random(2) === 0 && fields.length > 0 ? fields[random(fields.length)]! + random(8) : random(Math.min(span, bytes.length));
      bytes[at] = random(3) === 0 ? boundary[random(boundary.length)]! : random(256);
    }
    const started = Date.now();
    try {
      const node = await driver.open(new MemoryFile(bytes), { readOnly: true, driverOptions: {}, ...openOptions });
      opened++;
      const edge = Math.min(node.size, 256 * 1024);
      await node.read(0, new Uint8Array(edge));
      await node.read(node.size - edge, new Uint8Array(edge));
      for (let at = 0, steps = 0; at < node.size && steps < 64; steps++) at += (await node.blockStatus?.(at, node.size - at))?.length ?? node.size;
      await node.check?.('none');
      await node.close();
    } catch (error) {
      refused++;
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name, String((error as Error).stack)).not.toMatch(/^(TypeError|RangeError|ReferenceError)$/);
      expect((error as Error).message).not.toBe('');
    }
    expect(Date.now() - started, `case ${i} took too long`).toBeLessThan(2000);
    // Nothing is allocated from a forged size or count: buffers stay near the image's own size.
    expect(process.memoryUsage().arrayBuffers, `case ${i} holds too much memory`).toBeLessThan(256 * 2 ** 20);
  }
  return { opened, refused };
}
