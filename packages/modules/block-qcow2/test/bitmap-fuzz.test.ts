// A bounded fuzz of the bitmap directory parser and of the header rewrite around it: a real
// directory (qemu-img's, three bitmaps) with sizes, offsets, counts, flags, name and extra-data
// lengths mutated, 400 cases from a fixed seed. Each parses into bitmaps that satisfy QEMU's
// constraints or throws a coded `corrupt-image` error; nothing else, no hang, and no allocation
// beyond the directory's own bytes (the parser allocates only names cut from it).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seeded } from '../../../../tools/test-support/memory-node.ts';
import { entryFits, parseBitmapDirectory } from '../src/bitmaps/directory.ts';
import { withBitmapsExtension } from '../src/bitmaps/header-extension.ts';
import { parseHeader } from '../src/header/header.ts';

let dir: string;
let image: Buffer;
let directory: Buffer;
const CLUSTER = 65536;
const SIZE = 64 * 2 ** 20;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-bitmap-fuzz-'));
  const file = join(dir, 'b.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '64M']);
  for (const [name, g] of [['a', '64k'], ['second-bitmap', '512'], ['c', '2M']] as const) execFileSync('qemu-img', ['bitmap', '--add', '-g', g, file, name]);
  image = readFileSync(file);
  const ext = image.indexOf(Buffer.from([0x23, 0x85, 0x28, 0x75]), 112);
  directory = image.subarray(Number(image.readBigUInt64BE(ext + 24)), Number(image.readBigUInt64BE(ext + 24)) + Number(image.readBigUInt64BE(ext + 16)));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bitmap directory fuzz', () => {
  it('the real directory parses to qemu-img\'s three bitmaps', () => {
    const bitmaps = parseBitmapDirectory(directory, 3, CLUSTER, SIZE);
    expect(bitmaps.map((b) => [b.name, 2 ** b.granularityBits])).toEqual([['a', 65536], ['second-bitmap', 512], ['c', 2 ** 21]]);
  });

  it('400 mutated directories: bitmaps within QEMU\'s constraints, or a corrupt-image error', () => {
    const next = seeded(0xb17);
    // Field offsets of the first two entries' fixed parts (24 bytes each; entry 1 starts at 32).
    const fields = [0, 8, 12, 16, 17, 18, 20, 32, 40, 44, 49, 50, 52];
    let accepted = 0;
    for (let round = 0; round < 400; round++) {
      const bytes = Buffer.from(directory);
      for (let n = 1 + (next() % 3); n > 0; n--) {
        const at = fields[next() % fields.length]!;
        const value = [0, 1, 0xff, 0xffff, 0x7fffffff, 0xffffffff, next()][next() % 7]!;
        if (next() % 2) bytes[at + (next() % 4)] = value & 0xff;
        else bytes.writeUInt32BE(value >>> 0, Math.min(at, bytes.length - 4));
      }
      const cut = next() % 4 === 0 ? bytes.subarray(0, next() % bytes.length) : bytes;
      const count = next() % 5 === 0 ? next() % 6 : 3;
      try {
        const bitmaps = parseBitmapDirectory(cut, count, CLUSTER, SIZE);
        for (const b of bitmaps) expect(entryFits(b, CLUSTER, SIZE)).toBe(true);
        expect(bitmaps.length).toBe(count);
        accepted++;
      } catch (error) {
        expect((error as { code?: string }).code, String(error)).toBe('corrupt-image');
      }
    }
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(400);
  });

  it('the header rewrite keeps every other extension and the backing name, and drops the bitmaps cleanly', () => {
    const head = image.subarray(0, CLUSTER);
    const header = parseHeader(head, image.length, 'b.qcow2');
    const moved = withBitmapsExtension(head, header.headerLength, { count: 3, offset: 7 * CLUSTER, size: directory.length });
    const reparsed = parseHeader(moved, image.length, 'b.qcow2');
    expect(reparsed.extensions.bitmaps).toMatchObject({ count: 3, directoryOffset: BigInt(7 * CLUSTER), directorySize: BigInt(directory.length) });
    expect(reparsed.extensions.featureNames).toEqual(header.extensions.featureNames);
    const dropped = parseHeader(withBitmapsExtension(head, header.headerLength, undefined), image.length, 'b.qcow2');
    expect(dropped.extensions.bitmaps).toBeUndefined();
    expect(dropped.autoclear & 1n).toBe(0n);
    expect(reparsed.autoclear & 1n).toBe(1n);
    // With a backing file: its name moves after the added extension and stays readable.
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'b.qcow2', '-F', 'qcow2', join(dir, 'top.qcow2')]);
    const top = readFileSync(join(dir, 'top.qcow2')).subarray(0, CLUSTER);
    const topHeader = parseHeader(top, CLUSTER * 4, 'top.qcow2');
    const withBitmaps = parseHeader(withBitmapsExtension(top, topHeader.headerLength, { count: 1, offset: CLUSTER * 3, size: 32 }), CLUSTER * 4, 'top.qcow2');
    expect(withBitmaps.backingFile).toBe('b.qcow2');
    expect(withBitmaps.extensions.backingFormat).toBe('qcow2');
    expect(withBitmaps.backingFileOffset).toBe(topHeader.backingFileOffset + 32);
  });
});
