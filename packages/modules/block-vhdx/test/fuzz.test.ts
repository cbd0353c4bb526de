// Mutated VHDX metadata (headers, region tables, metadata table and items, BAT, log entries),
// checksums recomputed so the mutation reaches the field checks: every open either works and
// reads within bounds, or fails with a coded error; no other crash, no hang, no huge allocation.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c } from '../src/crc32c.ts';
import { vhdxFormat } from '../src/driver.ts';
import { MemoryNode, qemuIo, rng, tempDir } from '../../block-vpc/test/helpers.ts';

const { dir, remove } = tempDir('tessera-vhdx-fuzz-');
afterAll(remove);
const KiB = 1024;
const MiB = 1024 * KiB;
let clean: Uint8Array;
let dirty: Uint8Array;

beforeAll(() => {
  execFileSync('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', 'clean.vhdx', '6M'], { cwd: dir });
  qemuIo(dir, 'clean.vhdx', 'vhdx', 'write -P 0x33 0 64k', 'write -P 0x44 4M 8k');
  clean = new Uint8Array(readFileSync(join(dir, 'clean.vhdx')));
  // A dirty copy: the log entry of a BAT update, written by hand after qemu-img's layout (the
  // end-to-end test makes a real one with qemu-io; this one keeps the fuzz test free of gdb).
  dirty = withLogEntry(clean);
});

/** Append one log entry (one data descriptor rewriting the BAT's first sector) and name its GUID in both headers. */
function withLogEntry(image: Uint8Array): Uint8Array {
  const bytes = image.slice();
  const view = new DataView(bytes.buffer);
  const guid = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  const logOffset = Number(view.getBigUint64(64 * KiB + 72, true));
  const batOffset = 2 * MiB;
  const entry = new Uint8Array(8 * KiB);
  const e = new DataView(entry.buffer);
  e.setUint32(0, 0x65676f6c, true);
  e.setUint32(8, entry.length, true);
  e.setUint32(12, 0, true);
  e.setBigUint64(16, 1n, true);
  e.setUint32(24, 1, true);
  entry.set(guid, 32);
  e.setBigUint64(48, BigInt(bytes.length), true);
  e.setBigUint64(56, BigInt(bytes.length), true);
  const sector = bytes.slice(batOffset, batOffset + 4 * KiB);
  new DataView(sector.buffer).setBigUint64(8, (5n << 20n) | 6n, true); // block 1 present at 5 MiB
  e.setUint32(64, 0x63736564, true);
  entry.set(sector.subarray(4092, 4096), 64 + 4);
  entry.set(sector.subarray(0, 8), 64 + 8);
  e.setBigUint64(64 + 16, BigInt(batOffset), true);
  e.setBigUint64(64 + 24, 1n, true);
  e.setUint32(4 * KiB, 0x61746164, true);
  e.setUint32(4 * KiB + 4, 0, true);
  entry.set(sector.subarray(8, 4092), 4 * KiB + 8);
  e.setUint32(4 * KiB + 4092, 1, true);
  e.setUint32(4, crc32c(entry, 4), true);
  bytes.set(entry, logOffset);
  for (const at of [64 * KiB, 128 * KiB]) {
    bytes.set(guid, at + 48);
    view.setUint32(at + 4, crc32c(bytes.subarray(at, at + 4 * KiB), 4), true);
  }
  return bytes;
}

/** Recompute every checksum a mutation may have broken (headers, region tables, log entry). */
function resign(bytes: Uint8Array): void {
  const view = new DataView(bytes.buffer);
  for (const [at, length] of [[64 * KiB, 4 * KiB], [128 * KiB, 4 * KiB], [192 * KiB, 64 * KiB], [256 * KiB, 64 * KiB], [MiB, 8 * KiB]] as const) {
    const sig = view.getUint32(at, true);
    if (sig === 0) continue;
    view.setUint32(at + 4, crc32c(bytes.subarray(at, at + length), 4), true);
  }
}

const FIELDS = [
  ...[8, 48, 64, 66, 68, 69, 72, 74].map((o) => 64 * KiB + o), // header: sequence, log GUID, versions, log length/offset
  ...[8, 16 + 16, 16 + 18, 16 + 24, 16 + 26, 16 + 28, 48 + 16, 48 + 18, 48 + 24, 48 + 26, 48].map((o) => 192 * KiB + o), // region table
  ...[10, 32 + 16, 32 + 20, 32 + 24, 64 + 16, 64 + 20, 64, 96 + 20, 128 + 24].map((o) => 3 * MiB + o), // metadata table
  ...[0, 2, 3, 4, 8, 11, 16, 20].map((o) => 3 * MiB + 64 * KiB + o), // block size, flags, virtual size, …
  ...[0, 2, 3, 6, 7, 8, 10, 14, 15, 32].map((o) => 2 * MiB + o), // BAT
  ...[8, 12, 16, 24, 48, 56, 64, 64 + 4, 64 + 16, 64 + 20, 64 + 24, 4 * KiB, 4 * KiB + 4, 4 * KiB + 4092].map((o) => MiB + o), // log entry
];

describe('the vhdx parser under mutated metadata', () => {
  it('fails only with coded errors, within bounds, for 400 mutations', async () => {
    const next = rng(0xd15c);
    const outcomes = { opened: 0, refused: 0 };
    // Copies of 8 MiB are slow to make 400 times: each round restores only the metadata part
    // (the first 4 MiB) of a working copy, and makes a new copy when a round replaced it.
    const working = [clean.slice(), dirty.slice()];
    for (let round = 0; round < 400; round++) {
      const base = round % 2 ? dirty : clean;
      const image = working[round % 2]!;
      image.set(base.subarray(0, 4 * MiB));
      for (let m = 1 + (next() % 3); m > 0; m--) {
        const at = FIELDS[next() % FIELDS.length]!;
        image[at] = next() % 3 === 0 ? 0xff : next() & 0xff;
      }
      if (next() % 8 !== 0) resign(image);
      const readOnly = next() % 3 === 0;
      const file = new MemoryNode(image, `fuzz-${round}.vhdx`, readOnly);
      const replaced = () => {
        if (file.bytes !== image) working[round % 2] = base.slice();
      };
      let node;
      try {
        node = await vhdxFormat.open(file, { readOnly, driverOptions: {} });
      } catch (error) {
        expect(String((error as { code?: string }).code), String((error as Error).stack)).toMatch(/^(corrupt-image|unsupported-feature)$/);
        outcomes.refused++;
        replaced();
        continue;
      }
      outcomes.opened++;
      expect(file.bytes.length).toBeLessThanOrEqual(image.length + 256 * MiB); // a replay grows the file by at most one largest block
      const buffer = new Uint8Array(64 * KiB);
      for (const offset of [0, 4 * MiB, node.size - buffer.length]) if (offset >= 0 && offset + buffer.length <= node.size) await node.read(offset, buffer);
      replaced();
    }
    expect(outcomes.refused).toBeGreaterThan(50);
    expect(outcomes.opened).toBeGreaterThan(20);
  });

  it('replays the hand-made log entry (the fuzz cases start from a valid dirty image)', async () => {
    const file = new MemoryNode(dirty.slice(), 'dirty.vhdx');
    await expect(vhdxFormat.open(new MemoryNode(dirty.slice(), 'dirty.vhdx', true), { readOnly: true, driverOptions: {} })).rejects.toMatchObject({ code: 'corrupt-image' });
    const node = await vhdxFormat.open(file, { readOnly: false, driverOptions: {} });
    const bat = new DataView(file.bytes.buffer, 2 * MiB + 8, 8).getBigUint64(0, true);
    expect(bat).toBe((5n << 20n) | 6n);
    expect(node.size).toBe(6 * MiB);
  });
});
