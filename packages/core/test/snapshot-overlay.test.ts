// snapshot=on: writes land in a temporary overlay; the image itself never changes.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openSnapshotOverlay } from '../src/block/snapshot-overlay.ts';
import { fileProtocol } from '../../modules/block-file/src/file-protocol.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-overlay-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('reads merge overlay and image; the image file is never written; the overlay leaves nothing behind', async () => {
  const path = join(dir, 'disk.raw');
  const original = randomBytes(64 * 1024 + 300); // not a whole number of sectors
  writeFileSync(path, original);
  const overlaysBefore = readdirSync(tmpdir()).filter((f) => f.startsWith('tessera-snapshot-')).length;

  const base = await fileProtocol.open(path, { readOnly: true, driverOptions: {} });
  const node = await openSnapshotOverlay(base);
  const expected = Buffer.from(original);
  const writes: [number, number][] = [[0, 512], [1000, 37], [4095, 2], [20_000, 9000], [original.length - 10, 10], [511, 514]];
  for (const [offset, length] of writes) {
    const data = randomBytes(length);
    await node.write(offset, data);
    data.copy(expected, offset);
  }
  const whole = new Uint8Array(original.length);
  await node.read(0, whole);
  expect(Buffer.from(whole).equals(expected)).toBe(true);
  const piece = new Uint8Array(3000);
  await node.read(900, piece); // crosses written and unwritten sectors
  expect(Buffer.from(piece).equals(expected.subarray(900, 3900))).toBe(true);
  await expect(node.write(original.length - 1, new Uint8Array(2))).rejects.toThrow(/beyond the end/);
  await node.close();

  expect(readFileSync(path).equals(original)).toBe(true);
  expect(readdirSync(tmpdir()).filter((f) => f.startsWith('tessera-snapshot-')).length).toBe(overlaysBefore);
});
