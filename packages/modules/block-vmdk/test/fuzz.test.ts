// A bounded fuzz test of the VMDK parsers: headers, footers, grain directories and tables,
// grain markers and descriptors of valid images, mutated at random (fixed seed). Every case must
// open and read, or fail with a BlockError carrying a code: no other exception, no hang, and no
// allocation beyond what the file itself holds.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlockNode, OpenRelative } from '@tessera/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vmdkFormat } from '../src/driver.ts';
import { fragmentedData } from './helpers/data.ts';
import { MemoryNode } from './helpers/memory-node.ts';

const CODES = ['corrupt-image', 'unsupported-feature', 'invalid-option', 'unsupported-operation'];
let dir: string;
const seeds: Record<string, Uint8Array> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-vmdk-fuzz-'));
  const raw = join(dir, 'data.raw');
  writeFileSync(raw, fragmentedData(2 * 2 ** 20, 3));
  const qemu = (subformat: string, name: string) => {
    execFileSync('qemu-img', ['convert', '-O', 'vmdk', '-o', subformat, raw, join(dir, name)]);
    return new Uint8Array(readFileSync(join(dir, name)));
  };
  seeds.sparse = qemu('subformat=monolithicSparse,zeroed_grain=on', 'sparse.vmdk');
  seeds.qemuStream = qemu('subformat=streamOptimized', 'qemu-stream.vmdk');
  // Our own one-pass stream (GD_AT_END, footer), written through the driver in memory.
  const file = new MemoryNode('stream.vmdk');
  await vmdkFormat.create!(file, { size: 2 * 2 ** 20, formatOptions: { subformat: 'streamOptimized' } });
  const node = await vmdkFormat.open(file, { readOnly: false, driverOptions: {} });
  await node.write(0, new Uint8Array(readFileSync(raw)));
  await node.close();
  seeds.stream = file.bytes;
  seeds.descriptor = new TextEncoder().encode(
    ['# Disk DescriptorFile', 'version=1', 'CID=1234abcd', 'parentCID=ffffffff', 'createType="monolithicFlat"', '', '# Extent description',
      'RW 2048 FLAT "flat.bin" 16', 'RW 4096 SPARSE "sparse.vmdk"', 'RW 8 ZERO', '', '#DDB', 'ddb.adapterType = "ide"', ''].join('\n'),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function generator(seed: number) {
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

/** Byte ranges worth mutating in each seed image: header, descriptor, directories and tables, a footer. */
function hotSpots(bytes: Uint8Array): Array<[number, number]> {
  if (bytes[0] === 0x23 /* # */) return [[0, bytes.length]];
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const gd = Number(view.getBigUint64(56, true));
  const spots: Array<[number, number]> = [[0, 80], [512, 1024]];
  if (gd > 0 && gd * 512 < bytes.length) spots.push([gd * 512, Math.min(bytes.length, gd * 512 + 2048)]);
  spots.push([65536, 66048], [bytes.length - 1536, bytes.length]); // the first grain's marker; a stream's footer
  return spots;
}

function mutate(bytes: Uint8Array, random: () => number): Uint8Array {
  const copy = bytes.slice();
  const spots = hotSpots(copy);
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

/** Open and read what a user would: info, the start, the end and a few places between, block status. */
async function exercise(file: MemoryNode, extents: Record<string, Uint8Array>): Promise<void> {
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
  } finally {
    await node?.close();
  }
}

describe('fuzzed VMDK images', () => {
  it.each(['sparse', 'qemuStream', 'stream', 'descriptor'])('%s: 150 mutations, each opened and read or refused with a coded error', async (seedName) => {
    const random = generator(0x9e3779b9 ^ seedName.length);
    const memoryBefore = process.memoryUsage().rss;
    const outcomes = { opened: 0, refused: 0 };
    for (let i = 0; i < 150; i++) {
      const isDescriptor = seedName === 'descriptor';
      const bytes = mutate(seeds[seedName]!, random);
      const extents: Record<string, Uint8Array> = isDescriptor ? { 'flat.bin': new Uint8Array(2 * 2 ** 20), 'sparse.vmdk': mutate(seeds.sparse!, random) } : {};
      const started = Date.now();
      try {
        await exercise(new MemoryNode(`${seedName}.vmdk`, bytes), extents);
        outcomes.opened++;
      } catch (error) {
        const e = error as { name?: string; code?: string; message?: string };
        expect({ case: i, message: e.message, coded: CODES.includes(e.code ?? '') }).toMatchObject({ case: i, coded: true });
        outcomes.refused++;
      }
      expect(Date.now() - started).toBeLessThan(5000);
    }
    // Both outcomes happen: the mutations reach the checks, and not every case is refused.
    expect(outcomes.opened).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
    expect(process.memoryUsage().rss - memoryBefore).toBeLessThan(512 * 2 ** 20);
  });

  it('a stream refuses a write behind what it has already streamed', async () => {
    const file = new MemoryNode('order.vmdk');
    await vmdkFormat.create!(file, { size: 2 ** 20, formatOptions: { subformat: 'streamOptimized' } });
    const node = await vmdkFormat.open(file, { readOnly: false, driverOptions: {} });
    await node.write(128 * 1024, new Uint8Array(4096).fill(1));
    await expect(node.write(0, new Uint8Array(4096).fill(2))).rejects.toMatchObject({ code: 'unsupported-operation', message: expect.stringContaining("can't write to allocated cluster for streamOptimized") });
    await node.close();
  });
});
