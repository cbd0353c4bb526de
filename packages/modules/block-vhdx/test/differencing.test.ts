// Differencing VHDX images (a parent named by the parent locator), read-only. qemu 7.2 cannot
// open them and no tool here makes them, so the child is made from an image qemu-img created,
// given a parent locator, the has-parent flag, a partially present block with its sector bitmap
// and a block left to the parent; the expected bytes are the parent's (as qemu-img reads them)
// with the child's present sectors over them.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guidBytes, sameGuid } from '../src/guid.ts';
import { MiB, qemuIo, sh, tempDir, tool } from '../../block-vpc/test/helpers.ts';

const { dir, remove } = tempDir('tessera-vhdx-diff-');
afterAll(remove);
const qemuImg = (...args: string[]) => sh(dir, 'qemu-img', args);

const BLOCK = 8 * MiB;
const SECTOR = 512;
/** Sectors of block 0 the child holds itself; every other sector is the parent's. */
const PRESENT: ReadonlyArray<[number, number]> = [[0, 8], [100, 300]];

/** A qemu-img-made dynamic VHDX turned into a child of `locator`'s parent, with the PRESENT sectors of block 0 filled with 0xab. */
function makeChild(path: string, locator: Record<string, string>): void {
  let bytes = readFileSync(path);
  const regionTable = 192 * 1024;
  const regions = new Map<string, number>();
  for (let i = 0; i < bytes.readUInt32LE(regionTable + 8); i++) {
    const entry = regionTable + 16 + i * 32;
    regions.set(Buffer.from(bytes.subarray(entry, entry + 16)).toString('hex'), Number(bytes.readBigUInt64LE(entry + 16)));
  }
  const region = (guid: string) => regions.get(Buffer.from(guidBytes(guid)).toString('hex'))!;
  const bat = region('2DC27766-F623-4200-9D64-115E9BFD4A08');
  const metadata = region('8B7CA206-4790-4B9A-B8FE-575F050F886E');
  // The has-parent flag, and the locator item after the last item.
  const count = bytes.readUInt16LE(metadata + 10);
  let itemsEnd = 64 * 1024;
  for (let i = 0; i < count; i++) {
    const entry = metadata + 32 + i * 32;
    const offset = bytes.readUInt32LE(entry + 16);
    itemsEnd = Math.max(itemsEnd, offset + bytes.readUInt32LE(entry + 20));
    if (sameGuid(bytes.subarray(entry, entry + 16), guidBytes('CAA16737-FA36-4D43-B3B6-33F0AA44E76B'))) {
      bytes.writeUInt32LE(bytes.readUInt32LE(metadata + offset + 4) | 2, metadata + offset + 4);
    }
  }
  const pairs = Object.entries(locator).map(([key, value]) => [Buffer.from(key, 'utf16le'), Buffer.from(value, 'utf16le')] as const);
  const head = Buffer.alloc(20 + pairs.length * 12);
  head.set(guidBytes('B04AEFB7-D19E-4A81-B789-25B8E9445913'));
  head.writeUInt16LE(pairs.length, 18);
  const strings: Buffer[] = [];
  let at = head.length;
  pairs.forEach(([key, value], i) => {
    head.writeUInt32LE(at, 20 + i * 12);
    head.writeUInt32LE(at + key.length, 20 + i * 12 + 4);
    head.writeUInt16LE(key.length, 20 + i * 12 + 8);
    head.writeUInt16LE(value.length, 20 + i * 12 + 10);
    strings.push(key, value);
    at += key.length + value.length;
  });
  const item = Buffer.concat([head, ...strings]);
  const itemOffset = Math.ceil(itemsEnd / 8) * 8;
  const entry = metadata + 32 + count * 32;
  bytes.set(guidBytes('A8D35F2D-B30B-454D-ABF7-D3D84834AB0C'), entry);
  bytes.writeUInt32LE(itemOffset, entry + 16);
  bytes.writeUInt32LE(item.length, entry + 20);
  bytes.writeUInt32LE(4, entry + 24);
  bytes.writeUInt16LE(count + 1, metadata + 10);
  item.copy(bytes, metadata + itemOffset);
  // Block 0 partially present at the file's 1 MiB aligned end, its chunk's sector bitmap after it;
  // sectors not present hold 0xee, which must never be read.
  const data = Math.ceil(bytes.length / MiB) * MiB;
  const bitmap = data + BLOCK;
  bytes = Buffer.concat([bytes, Buffer.alloc(bitmap + MiB - bytes.length)]);
  bytes.fill(0xee, data, data + BLOCK);
  for (const [from, to] of PRESENT) {
    bytes.fill(0xab, data + from * SECTOR, data + to * SECTOR);
    for (let sector = from; sector < to; sector++) bytes[bitmap + (sector >> 3)]! |= 1 << (sector & 7);
  }
  const chunkRatio = (2 ** 23 * SECTOR) / BLOCK;
  bytes.writeBigUInt64LE((BigInt(data / MiB) << 20n) | 7n, bat);
  bytes.writeBigUInt64LE(0n, bat + 8);
  bytes.writeBigUInt64LE((BigInt(bitmap / MiB) << 20n) | 6n, bat + chunkRatio * 8);
  writeFileSync(path, bytes);
}

describe('differencing vhdx', () => {
  let expected: Buffer;
  beforeAll(() => {
    qemuImg('create', '-q', '-f', 'vhdx', '-o', 'block_size=8M', 'parent.vhdx', '16M');
    qemuIo(dir, 'parent.vhdx', 'vhdx', 'write -P 0x11 0 5M', 'write -P 0x22 9M 3M');
    qemuImg('convert', '-O', 'raw', 'parent.vhdx', 'parent.raw');
    expected = readFileSync(join(dir, 'parent.raw'));
    for (const [from, to] of PRESENT) expected.fill(0xab, from * SECTOR, to * SECTOR);
    for (const [name, locator] of [
      ['child.vhdx', { parent_linkage: '{00000000-0000-0000-0000-000000000000}', relative_path: '.\\parent.vhdx', absolute_win32_path: 'C:\\vms\\parent.vhdx' }],
      ['windows-only.vhdx', { absolute_win32_path: 'C:\\vms\\parent.vhdx' }],
      ['missing-parent.vhdx', { relative_path: '.\\gone.vhdx' }],
    ] as const) {
      qemuImg('create', '-q', '-f', 'vhdx', '-o', 'block_size=8M', name, '16M');
      makeChild(join(dir, name), locator);
    }
  });

  it('reads the child: its present sectors, the parent everywhere else (partially present and absent blocks)', async () => {
    const result = await tool('modular', dir, 'convert', '-O', 'raw', 'child.vhdx', 'child.raw');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(Buffer.compare(readFileSync(join(dir, 'child.raw')), expected)).toBe(0);
  }, 60_000);

  it('info names the parent as its locator does; a writer is refused', async () => {
    const info = await tool('modular', dir, 'info', '--output=json', 'child.vhdx');
    expect(JSON.parse(info.stdout)).toMatchObject({ format: 'vhdx', 'virtual-size': 16 * MiB, 'backing-filename': 'parent.vhdx', 'cluster-size': BLOCK });
    const resize = await tool('modular', dir, 'resize', 'child.vhdx', '32M');
    expect(resize.code).toBe(1);
    expect(resize.stderr).toContain('can only be opened read-only');
  });

  it('a parent named only by a Windows path, or missing, is refused by name', async () => {
    const windows = await tool('modular', dir, 'convert', '-O', 'raw', 'windows-only.vhdx', 'x.raw');
    expect(windows).toMatchObject({ code: 1 });
    expect(windows.stderr).toContain("The parent image 'C:\\vms\\parent.vhdx' is named by a Windows path only");
    const missing = await tool('modular', dir, 'convert', '-O', 'raw', 'missing-parent.vhdx', 'x.raw');
    expect(missing).toMatchObject({ code: 1 });
    expect(missing.stderr).toContain('gone.vhdx');
  });
});
