// The cloop driver on images made by cloop-utils' create_compressed_fs (from a fragmented raw
// disk): the guest bytes read back, and a bounded fuzz of the header and offset table parser.
// (qemu-img as the oracle on the same images: packages/img-tool/test/read-only-formats.test.ts.)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fragmentedRaw } from '../../../../tools/test-support/fragmented-raw.ts';
import { memoryNode, openAndReadAll, seeded } from '../../../../tools/test-support/memory-node.ts';
import { cloopFormat } from '../src/driver.ts';

let dir: string;
let image: Uint8Array;
let guest: Buffer;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-cloop-'));
  guest = fragmentedRaw(join(dir, 'src.raw'), 3 << 20, 9);
  execFileSync('create_compressed_fs', ['-q', '-B', '16384', 'src.raw', 'a.cloop'], { cwd: dir, stdio: 'ignore' });
  image = readFileSync(join(dir, 'a.cloop'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const open = (file: ReturnType<typeof memoryNode>) => cloopFormat.open(file, { readOnly: true, driverOptions: {} });

it("reads create_compressed_fs's image as the disk it was made from (unaligned pieces)", async () => {
  const node = await open(memoryNode(image, 'a.cloop'));
  expect(node.size).toBe(guest.length);
  const out = Buffer.alloc(node.size);
  for (let at = 0; at < out.length; at += 40_000) await node.read(at, out.subarray(at, Math.min(out.length, at + 40_000)));
  expect(out.equals(guest)).toBe(true);
});

it("refuses to be opened for writing, and qemu's impossible headers in qemu's words", async () => {
  await expect(cloopFormat.open(memoryNode(image, 'a.cloop'), { readOnly: false, driverOptions: {} })).rejects.toMatchObject({
    message: "Could not open 'a.cloop': Image is read-only",
  });
  const odd = Buffer.from(image);
  odd.writeUInt32BE(1000, 128);
  await expect(open(memoryNode(odd, 'a.cloop'))).rejects.toMatchObject({ code: 'corrupt-image', message: "Could not open 'a.cloop': block_size 1000 must be a multiple of 512" });
  const swapped = Buffer.from(image);
  swapped.copy(swapped, 136 + 8, 136 + 16, 136 + 24); // offset 1 = offset 2: block 1 empty, still increasing
  swapped.writeBigUInt64BE(swapped.readBigUInt64BE(136 + 8 * 3) + 1n, 136 + 8 * 2); // offset 2 past offset 3
  await expect(open(memoryNode(swapped, 'a.cloop'))).rejects.toMatchObject({ message: expect.stringContaining('offsets not monotonically increasing at index 2') });
});

it('fuzz: mutated header and offsets give a coded error or data, never a crash or hang', async () => {
  const next = seeded(3);
  const outcomes = new Map<string, number>();
  const tableEnd = 136 + 8 * (new DataView(image.buffer, image.byteOffset).getUint32(132) + 1);
  for (let round = 0; round < 300; round++) {
    const copy = Uint8Array.from(image);
    for (let m = 0, count = 1 + (next() % 3); m < count; m++) {
      const at = next() % 4 === 0 ? 128 + (next() % 8) : 136 + (next() % (tableEnd - 136));
      copy[at] = next() % 3 === 0 ? 0xff : next() & 0xff;
    }
    const outcome = await openAndReadAll(open, copy, 1 << 20);
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  expect(outcomes.get('corrupt-image')).toBeGreaterThan(20);
  expect(outcomes.get('ok')).toBeGreaterThan(2);
});
