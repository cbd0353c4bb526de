// A write of part of a grain into an image with a backing file fills the rest of the new grain
// from the backing file, as qemu does: the child written here through the driver reads, in
// qemu-img, as the same write made by qemu-io on a copy.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { vmdkFormat } from '../src/driver.ts';
import { fragmentedData } from './helpers/data.ts';
import { MemoryNode } from './helpers/memory-node.ts';

let dir: string;
const qemu = (file: string, ...args: string[]) => execFileSync(file, args, { cwd: dir, encoding: 'utf8' });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-vmdk-backing-'));
  writeFileSync(join(dir, 'data.raw'), fragmentedData(2 ** 20, 11));
  qemu('qemu-img', 'convert', '-O', 'vmdk', 'data.raw', 'base.vmdk');
  qemu('qemu-img', 'create', '-q', '-f', 'vmdk', '-b', 'base.vmdk', '-F', 'vmdk', 'child.vmdk');
  qemu('cp', 'child.vmdk', 'expected.vmdk');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('partial-grain writes into a child keep the backing bytes around them', async () => {
  const base = await vmdkFormat.open(new MemoryNode('base.vmdk', new Uint8Array(readFileSync(join(dir, 'base.vmdk')))), { readOnly: true, driverOptions: {} });
  const childFile = new MemoryNode('child.vmdk', new Uint8Array(readFileSync(join(dir, 'child.vmdk'))));
  const child = await vmdkFormat.open(childFile, { readOnly: false, driverOptions: {}, openRelative: async () => base });
  await child.write(70 * 1024, new Uint8Array(3 * 1024).fill(0xaa));
  await child.write(300 * 1024, new Uint8Array(512).fill(0xbb));
  await child.close();
  writeFileSync(join(dir, 'child.vmdk'), childFile.bytes);
  qemu('qemu-io', '-c', 'write -P 0xaa 70k 3k', '-c', 'write -P 0xbb 300k 512', 'expected.vmdk');
  expect(qemu('qemu-img', 'check', 'child.vmdk')).toBe('No errors were found on the image.\n');
  expect(qemu('qemu-img', 'compare', 'child.vmdk', 'expected.vmdk')).toBe('Images are identical.\n');
  // The control: the backing file's bytes did show through (the write did not zero the grain).
  const differs = spawnSync('qemu-img', ['compare', '-f', 'vmdk', '-F', 'raw', 'child.vmdk', 'data.raw'], { cwd: dir, encoding: 'utf8' });
  expect({ code: differs.status, stdout: differs.stdout }).toEqual({ code: 1, stdout: 'Content mismatch at offset 71680!\n' });
});
