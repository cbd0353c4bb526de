// The dmg driver on images made by the test's own UDIF writer (dmg-fixture.ts): every chunk kind,
// both places the chunk tables can be, lzfse refused by name, and a bounded fuzz of the parser.
// (qemu-img as the oracle on the same images: packages/img-tool/test/read-only-formats.test.ts.)
import { expect, it } from 'vitest';
import { memoryNode, openAndReadAll, seeded } from '../../../../tools/test-support/memory-node.ts';
import { dmgFormat } from '../src/driver.ts';
import { makeDmg, sampleData, type DmgPart } from './dmg-fixture.ts';

const parts = (seed: number): DmgPart[] => [
  { kind: 'zlib', data: sampleData(seed, 64) },
  { kind: 'zero', data: new Uint8Array(512 * 40) },
  { kind: 'raw', data: sampleData(seed + 1, 9) },
  { kind: 'bzip2', data: sampleData(seed + 2, 70) },
  { kind: 'ignore', data: new Uint8Array(512 * 3) },
  { kind: 'zlib', data: sampleData(seed + 3, 1) },
];

async function readAll(image: Uint8Array): Promise<Uint8Array> {
  const node = await dmgFormat.open(memoryNode(image, 'x.dmg'), { readOnly: true, driverOptions: {} });
  const out = new Uint8Array(node.size);
  // Unaligned pieces across chunk boundaries.
  for (let at = 0; at < out.length; at += 3001) await node.read(at, out.subarray(at, Math.min(out.length, at + 3001)));
  return out;
}

it.each(['xml', 'resource-fork'] as const)('reads every chunk kind, tables in the %s', async (metadata) => {
  const { image, guest } = makeDmg({ blocks: [parts(1), parts(10)], metadata });
  const read = await readAll(image);
  expect(read.length).toBe(guest.length);
  expect(Buffer.from(read).equals(Buffer.from(guest))).toBe(true);
});

it('opens an image with lzfse chunks but refuses to read them, naming lzfse (unsupported-feature)', async () => {
  const patched = makeLzfse();
  const node = await dmgFormat.open(memoryNode(patched, 'x.dmg'), { readOnly: true, driverOptions: {} });
  await node.read(0, new Uint8Array(1024));
  await expect(node.read(1024, new Uint8Array(512))).rejects.toMatchObject({ code: 'unsupported-feature', message: expect.stringContaining('lzfse') });
});

/** A resource-fork image (binary tables) whose second chunk is lzfse. */
function makeLzfse(): Uint8Array {
  const { image } = makeDmg({ blocks: [[{ kind: 'raw', data: sampleData(3, 2) }, { kind: 'zlib', data: sampleData(4, 2) }]], metadata: 'resource-fork' });
  const copy = Buffer.from(image);
  const at = copy.indexOf(Buffer.from([0x80, 0, 0, 5]));
  copy.writeUInt32BE(0x80000007, at);
  return copy;
}

it('refuses to be opened for writing, as qemu (Image is read-only)', async () => {
  const { image } = makeDmg({ blocks: [parts(2)] });
  await expect(dmgFormat.open(memoryNode(image, 'x.dmg'), { readOnly: false, driverOptions: {} })).rejects.toMatchObject({
    message: "Could not open 'x.dmg': Image is read-only",
  });
});

it('fuzz: mutated trailers, property lists and chunk tables give a coded error or data, never a crash or hang', async () => {
  // Without bzip2 chunks: the bzip2 decoder has its own fuzz (bzip2.test.ts); this one is the container's.
  const noBzip2 = (seed: number) => parts(seed).filter((part) => part.kind !== 'bzip2');
  const images = [makeDmg({ blocks: [noBzip2(5)] }).image, makeDmg({ blocks: [noBzip2(6), noBzip2(7)], metadata: 'resource-fork' }).image];
  const next = seeded(16);
  const outcomes = new Map<string, number>();
  for (let round = 0; round < 300; round++) {
    const base = images[round % 2]!;
    const copy = Uint8Array.from(base);
    const mutations = 1 + (next() % 4);
    for (let m = 0; m < mutations; m++) {
      // Mostly the metadata: the trailer, the tables and property list (the last 8 KiB), sometimes anywhere.
      const region = next() % 4 === 0 ? copy.length : Math.min(copy.length, 8192);
      const at = copy.length - 1 - (next() % region);
      copy[at] = next() % 3 === 0 ? 0xff : next() & 0xff;
    }
    const outcome = await openAndReadAll((file) => dmgFormat.open(file, { readOnly: true, driverOptions: {} }), copy, 1 << 20);
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  // Both outcomes occur: the fuzz reaches the parser's checks and also leaves images readable.
  expect(outcomes.get('corrupt-image')).toBeGreaterThan(10);
  expect(outcomes.get('ok')).toBeGreaterThan(10);
});

it('a chunk table of 200 000 entries (8 MiB of metadata) opens, within bounds', async () => {
  // A binary resource fork with one mish block of n zero chunks, one sector each, and the trailer.
  const n = 200_000;
  const block = Buffer.alloc(204 + 40 * n);
  block.writeUInt32BE(0x6d697368, 0);
  block.writeUInt32BE(n, 200);
  for (let i = 0, at = 204; i < n; i++, at += 40) {
    block.writeUInt32BE(i, at + 12); // first sector (low half)
    block.writeUInt32BE(1, at + 0x14); // sector count (low half)
  }
  const fork = Buffer.alloc(256 + 4 + block.length);
  fork.writeUInt32BE(256, 0);
  fork.writeUInt32BE(4 + block.length, 8);
  fork.writeUInt32BE(block.length, 256);
  block.copy(fork, 260);
  const koly = Buffer.alloc(512);
  koly.write('koly', 0, 'latin1');
  koly.writeBigUInt64BE(BigInt(fork.length), 0x30);
  koly.writeBigUInt64BE(BigInt(n), 0x1ec);
  const node = await dmgFormat.open(memoryNode(Buffer.concat([fork, koly]), 'big.dmg'), { readOnly: true, driverOptions: {} });
  expect(node.size).toBe(n * 512);
  const tail = new Uint8Array(4096);
  await node.read(node.size - tail.length, tail);
  expect(tail.every((b) => b === 0)).toBe(true);
});
