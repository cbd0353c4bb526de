// The bochs driver on growing images made by Bochs' own bximage (from a fragmented raw disk):
// the guest bytes read back, and a bounded fuzz of the header and catalog parser.
// (qemu-img as the oracle on the same images: packages/img-tool/test/read-only-formats.test.ts.)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fragmentedRaw } from '../../../../tools/test-support/fragmented-raw.ts';
import { memoryNode, openAndReadAll, seeded } from '../../../../tools/test-support/memory-node.ts';
import { bochsFormat } from '../src/driver.ts';

let dir: string;
let image: Uint8Array;
let guest: Buffer;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-bochs-'));
  guest = fragmentedRaw(join(dir, 'src.raw'), 3 << 20, 7);
  execFileSync('bximage', ['-func=convert', '-imgmode=growing', '-q', 'src.raw', 'a.bochs'], { cwd: dir, stdio: 'ignore' });
  image = readFileSync(join(dir, 'a.bochs'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const open = (file: ReturnType<typeof memoryNode>) => bochsFormat.open(file, { readOnly: true, driverOptions: {} });

it("reads bximage's growing image as the disk it was made from (unaligned pieces)", async () => {
  const node = await open(memoryNode(image, 'a.bochs'));
  expect(node.size).toBe(guest.length);
  const out = Buffer.alloc(node.size);
  for (let at = 0; at < out.length; at += 40_000) await node.read(at, out.subarray(at, Math.min(out.length, at + 40_000)));
  expect(out.equals(guest)).toBe(true);
});

it('refuses to be opened for writing, and a non-growing redolog by name', async () => {
  await expect(bochsFormat.open(memoryNode(image, 'a.bochs'), { readOnly: false, driverOptions: {} })).rejects.toMatchObject({
    message: "Could not open 'a.bochs': Image is read-only",
  });
  const undoable = Buffer.from(image);
  undoable.write('Undoable\0', 48, 'latin1');
  await expect(open(memoryNode(undoable, 'u.bochs'))).rejects.toMatchObject({ code: 'unsupported-feature' });
});

it('fuzz: mutated header and catalog give a coded error or data, never a crash or hang', async () => {
  const next = seeded(5);
  const outcomes = new Map<string, number>();
  for (let round = 0; round < 300; round++) {
    const copy = Uint8Array.from(image);
    for (let m = 0, count = 1 + (next() % 3); m < count; m++) {
      // The header's numeric fields (64..96), the catalog, and the bitmaps after it.
      const at = next() % 2 === 0 ? 64 + (next() % 32) : 512 + (next() % 4096);
      copy[at] = next() % 3 === 0 ? 0xff : next() & 0xff;
    }
    const outcome = await openAndReadAll(open, copy, 1 << 20);
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  expect(outcomes.get('corrupt-image')).toBeGreaterThan(20);
  expect(outcomes.get('ok')).toBeGreaterThan(20);
});
