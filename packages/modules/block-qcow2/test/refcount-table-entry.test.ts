// The refcount table entry codec (layout.ts): bits 9–63 are the block's offset, bits 0–8 reserved,
// as in QEMU. The writer and check read an entry alike: one with bits 56–63 set names a block no
// image can have, so check reports it and the writer refuses to open rather than using the block
// the low bits name (which it used to do, while check saw another offset).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileProtocol } from '../../block-file/src/file-protocol.ts';
import { qcow2Format } from '../src/format.ts';
import { refcountBlockOffset, refcountBlockOffsetOf } from '../src/layout.ts';
import { refcountTableEntry } from './qcow2-edit.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-reftable-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function open(path: string, readOnly: boolean) {
  const file = await fileProtocol.open(path, { readOnly, driverOptions: {} });
  // A refused open closes its file, as the block layer does: its image locks go with it.
  return qcow2Format.open(file, { readOnly, driverOptions: {} }).catch(async (error: unknown) => {
    await file.close();
    throw error;
  });
}

describe('refcount table entries', () => {
  it('decode bits 9-63 as the offset, from halves or a 64-bit entry, reserved bits ignored', () => {
    expect(refcountBlockOffset(0x01000000, 0x00020000)).toBe(2 ** 56 + 0x20000);
    expect(refcountBlockOffset(0x80000000, 0)).toBe(2 ** 63);
    expect(refcountBlockOffset(0, 0x000201ff)).toBe(0x20000);
    expect(refcountBlockOffsetOf(0x0100000000020000n)).toBe(2 ** 56 + 0x20000);
    expect(refcountBlockOffsetOf(0x00000000000201ffn)).toBe(0x20000);
  });

  it('an entry with bit 56 set: check and the writer agree it is not the block at its low bits', async () => {
    const path = join(dir, 'high-bits.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, '64M']);
    execFileSync('qemu-io', ['-c', 'write -P 0x11 0 64k', path]);
    expect(refcountTableEntry(path, 0, 0x0100000000020000n)).toBe(0x20000n);

    const qemu = spawnSync('qemu-img', ['check', path], { encoding: 'utf8' });
    const image = await open(path, true);
    const ours = await image.check!('none');
    expect(ours.messages[0]).toBe('ERROR refcount block 0 is outside image');
    expect(ours.messages.map((line) => `${line}\n`).join('')).toBe(qemu.stderr);
    expect(ours.corruptions).toBe(8);
    // Guest data still reads.
    const data = new Uint8Array(512);
    await image.read(0, data);
    expect(data.every((byte) => byte === 0x11)).toBe(true);
    await image.close();

    await expect(open(path, false)).rejects.toThrow(/refcount block offset 0x100000000020000 is invalid \(repair it with qemu-img check -r all\)/);
    // Nothing was written: the entry is as crafted, and qemu-img's repair fixes the image.
    expect(refcountTableEntry(path, 0)).toBe(0x0100000000020000n);
    expect(spawnSync('qemu-img', ['check', '-r', 'all', path]).status).toBe(0);
    expect(execFileSync('qemu-img', ['check', path], { encoding: 'utf8' })).toContain('No errors were found on the image.');
  });
});
