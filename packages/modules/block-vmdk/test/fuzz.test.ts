// A bounded fuzz test of the VMDK parsers: headers, footers, grain directories and tables,
// grain markers and descriptors of valid images, mutated at random (fixed seed). Every case must
// open and read, or fail with a BlockError carrying a code: no other exception, no hang, and no
// allocation beyond what the file itself holds.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vmdkFormat } from '../src/driver.ts';
import { fragmentedData } from './helpers/data.ts';
import { CODES, exercise, generator, mutate } from './helpers/fuzz.ts';
import { MemoryNode } from './helpers/memory-node.ts';

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

const mutateSeed = (bytes: Uint8Array, random: () => number) => mutate(bytes, hotSpots(bytes), random);

describe('fuzzed VMDK images', () => {
  it.each(['sparse', 'qemuStream', 'stream', 'descriptor'])('%s: 150 mutations, each opened and read or refused with a coded error', async (seedName) => {
    const random = generator(0x9e3779b9 ^ seedName.length);
    const memoryBefore = process.memoryUsage().rss;
    const outcomes = { opened: 0, refused: 0 };
    for (let i = 0; i < 150; i++) {
      const isDescriptor = seedName === 'descriptor';
      const bytes = mutateSeed(seeds[seedName]!, random);
      const extents: Record<string, Uint8Array> = isDescriptor ? { 'flat.bin': new Uint8Array(2 * 2 ** 20), 'sparse.vmdk': mutateSeed(seeds.sparse!, random) } : {};
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
