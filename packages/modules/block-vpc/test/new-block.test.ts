// A block added by a write is used at once while its bitmap, the moved footer and its BAT entry
// are written behind: reads see what was written into it, further writes go to it (not a second
// block), flush waits for its metadata, and qemu-img then reads every write.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MiB, openFileNode, qemuIo, sh, tempDir } from './helpers.ts';
import { vpcFormat } from '../src/driver.ts';

const { dir, remove } = tempDir('tessera-vpc-new-block-');
afterAll(remove);

describe('a new VHD block whose metadata is still being written', () => {
  it('reads back what was written into it, takes more writes, and is mapped once flush returns', async () => {
    sh(dir, 'qemu-img', ['create', '-q', '-f', 'vpc', 'held.vpc', '64M']);
    const file = await openFileNode(join(dir, 'held.vpc'));
    // The BAT entry's write (4 bytes) waits until released.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held = Object.assign(Object.create(file) as typeof file, {
      write: async (offset: number, data: Uint8Array) => {
        if (data.length === 4) await gate;
        await file.write(offset, data);
      },
    });
    const node = await vpcFormat.open(held, { readOnly: false, driverOptions: {} });
    await node.write(40 * MiB, new Uint8Array(65536).fill(0x33));
    await node.write(40 * MiB + 65536, new Uint8Array(4096).fill(0x44));
    const back = new Uint8Array(65536 + 8192);
    await node.read(40 * MiB, back);
    expect(back.subarray(0, 65536).every((byte) => byte === 0x33)).toBe(true);
    expect(back.subarray(65536, 65536 + 4096).every((byte) => byte === 0x44)).toBe(true);
    expect(back.subarray(65536 + 4096).every((byte) => byte === 0)).toBe(true);

    let flushed = false;
    const flush = node.flush().then(() => (flushed = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(flushed).toBe(false); // the BAT entry is not written yet
    release();
    await flush;
    await node.close();

    const read = qemuIo(dir, 'held.vpc', 'vpc', 'read -P 0x33 40M 64k', 'read -P 0x44 41024k 4k', 'read -P 0 41028k 4k');
    expect(read).not.toContain('verification failed');
    expect(read.match(/read \d+\/\d+ bytes/g)).toHaveLength(3);
    // One block added, the footer at the file's end (qemu-img map sees the block).
    expect(JSON.parse(sh(dir, 'qemu-img', ['map', '--output=json', 'held.vpc'])).filter((e: { data: boolean }) => e.data)).toHaveLength(1);
  });
});
