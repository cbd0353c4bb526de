// A block added by a write is used at once while its BAT entry is logged behind: reads see what
// was written into it, further writes go to it (not a second block), flush waits for the entry,
// and the image qemu-img reads afterwards holds every write.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MiB, openFileNode, qemuIo, sh, tempDir } from '../../block-vpc/test/helpers.ts';
import { vhdxFormat } from '../src/driver.ts';

const { dir, remove } = tempDir('tessera-vhdx-new-block-');
afterAll(remove);

/** Where qemu-img puts the log of a new image (1 MiB at 1 MiB): the BAT update's first write goes there. */
const LOG_START = MiB;
const LOG_END = 2 * MiB;

describe('a new VHDX block whose BAT entry is still being logged', () => {
  it('reads back what was written into it, takes more writes, and is mapped once flush returns', async () => {
    sh(dir, 'qemu-img', ['create', '-q', '-f', 'vhdx', 'held.vhdx', '64M']);
    const file = await openFileNode(join(dir, 'held.vhdx'));
    // The log's writes wait until released: the BAT entry cannot be logged before.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held = Object.assign(Object.create(file) as typeof file, {
      write: async (offset: number, data: Uint8Array) => {
        if (offset >= LOG_START && offset < LOG_END) await gate;
        await file.write(offset, data);
      },
    });
    const node = await vhdxFormat.open(held, { readOnly: false, driverOptions: {} });
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
    expect(flushed).toBe(false); // the entry is not logged yet
    release();
    await flush;
    await node.close();

    expect(sh(dir, 'qemu-img', ['check', 'held.vhdx'])).toBe('No errors were found on the image.\n');
    const read = qemuIo(dir, 'held.vhdx', 'vhdx', 'read -P 0x33 40M 64k', 'read -P 0x44 41024k 4k', 'read -P 0 41028k 4k');
    expect(read).not.toContain('verification failed');
    expect(read.match(/read \d+\/\d+ bytes/g)).toHaveLength(3);
  });
});
