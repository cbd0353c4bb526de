// Past the first chunk of a disk with small blocks, the BAT interleaves a sector bitmap entry
// after every chunk of payload entries (4096 for 1 MiB blocks): reads and writes there use the
// same entries as qemu's (driver-level, on a sparse 6 GiB image).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { join } from 'node:path';
import { vhdxFormat } from '../src/driver.ts';
import { openFileNode, qemuIo, sh, tempDir } from '../../block-vpc/test/helpers.ts';

const { dir, remove } = tempDir('tessera-vhdx-large-');
afterAll(remove);
const GiB = 2 ** 30;
const MiB = 2 ** 20;

beforeAll(() => {
  sh(dir, 'qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', 'large.vhdx', '6G']);
  qemuIo(dir, 'large.vhdx', 'vhdx', `write -P 0x61 ${4 * GiB + MiB} 64k`, `write -P 0x62 ${5 * GiB - 4096} 8k`);
});

it('reads what qemu wrote past the first chunk, and writes there what qemu reads', async () => {
  const node = await vhdxFormat.open(await openFileNode(join(dir, 'large.vhdx')), { readOnly: false, driverOptions: {} });
  const read = async (offset: number, length: number) => {
    const bytes = new Uint8Array(length);
    await node.read(offset, bytes);
    return bytes;
  };
  expect((await read(4 * GiB + MiB, 64 * 1024)).every((b) => b === 0x61)).toBe(true);
  expect((await read(5 * GiB - 4096, 8192)).every((b) => b === 0x62)).toBe(true);
  expect((await read(4 * GiB, 4096)).every((b) => b === 0)).toBe(true);
  await node.write(4 * GiB + 3 * MiB, new Uint8Array(4096).fill(0x63));
  await node.write(6 * GiB - 4096, new Uint8Array(4096).fill(0x64));
  await node.close();
  const check = qemuIo(dir, 'large.vhdx', 'vhdx', `read -P 0x63 ${4 * GiB + 3 * MiB} 4k`, `read -P 0x64 ${6 * GiB - 4096} 4k`, `read -P 0x61 ${4 * GiB + MiB} 64k`);
  expect(check).not.toContain('verification failed');
  expect(sh(dir, 'qemu-img', ['check', 'large.vhdx'])).toBe('No errors were found on the image.\n');
});
