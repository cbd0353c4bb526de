// The file protocol on real files: bytes in and out, its errors, and a close that waits for the
// reads and writes under way (a descriptor closed under them could be reused by the next open).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileProtocol } from '../src/file-protocol.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-block-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1024 * 1024;

describe('file protocol', () => {
  it('reads and writes at offsets, grows on writes past the end, and reports its size', async () => {
    const path = join(dir, 'rw.img');
    await fileProtocol.create!(path, 4 * MiB);
    const node = await fileProtocol.open(path, { readOnly: false, driverOptions: {} });
    expect(node.size).toBe(4 * MiB);
    const data = randomBytes(100_000);
    await node.write(12345, data);
    await node.write(4 * MiB, data); // past the end
    expect(node.size).toBe(4 * MiB + data.length);
    const back = new Uint8Array(data.length);
    await node.read(12345, back);
    expect(Buffer.from(back).equals(data)).toBe(true);
    await node.flush();
    await node.close();
    const file = readFileSync(path);
    expect(file.length).toBe(4 * MiB + data.length);
    expect(file.subarray(12345, 12345 + data.length).equals(data)).toBe(true);
    expect(file.subarray(0, 12345).every((byte) => byte === 0)).toBe(true);
  });

  it('refuses a read beyond the end and a write to a read-only image, naming the file', async () => {
    const path = join(dir, 'small.img');
    writeFileSync(path, new Uint8Array(4096));
    const node = await fileProtocol.open(path, { readOnly: true, driverOptions: {} });
    await expect(node.read(4000, new Uint8Array(200))).rejects.toThrow(`${path}: read of 200 bytes at 4000 is beyond the end (4096)`);
    await expect(node.write(0, new Uint8Array(1))).rejects.toThrow(`${path}: the image is opened read-only`);
    await node.close();
  });

  it('says why a file cannot be opened', async () => {
    await expect(fileProtocol.open(join(dir, 'missing.img'), { readOnly: true, driverOptions: {} })).rejects.toThrow(`Could not open '${join(dir, 'missing.img')}': No such file or directory`);
    const sub = join(dir, 'a-directory');
    mkdirSync(sub);
    await expect(fileProtocol.open(sub, { readOnly: true, driverOptions: {} })).rejects.toThrow(`'file' driver requires '${sub}' to be a regular file`);
  });

  it('closes only once the reads and writes under way are done', async () => {
    const path = join(dir, 'busy.img');
    const content = randomBytes(32 * MiB);
    writeFileSync(path, content);
    const node = await fileProtocol.open(path, { readOnly: false, driverOptions: {} });
    const into = new Uint8Array(content.length);
    const patch = randomBytes(8 * MiB);
    const settled: string[] = [];
    const read = node.read(0, into).then(() => settled.push('read'));
    const write = node.write(32 * MiB, patch).then(() => settled.push('write'));
    const closed = node.close().then(() => settled.push('close')); // while both are under way
    await Promise.all([read, write, closed]);
    expect(settled.at(-1)).toBe('close');
    expect(Buffer.from(into).equals(content)).toBe(true);
    const file = readFileSync(path);
    expect(file.length).toBe(40 * MiB);
    expect(file.subarray(32 * MiB).equals(patch)).toBe(true);
  });

  it('closes once when closed twice at once: both calls settle, and a descriptor reused since stays open', async () => {
    const path = join(dir, 'twice.img');
    writeFileSync(path, randomBytes(16 * MiB));
    const node = await fileProtocol.open(path, { readOnly: true, driverOptions: {} });
    const read = node.read(0, new Uint8Array(16 * MiB));
    const first = node.close();
    const second = node.close(); // while the read is under way, so both wait
    await Promise.all([read, first, second]);
    // The next open gets the lowest free descriptor, likely the one just closed: a second close
    // of it would break this file.
    const otherPath = join(dir, 'other.img');
    const content = randomBytes(4096);
    writeFileSync(otherPath, content);
    const other = await fileProtocol.open(otherPath, { readOnly: true, driverOptions: {} });
    await node.close();
    const back = new Uint8Array(4096);
    await other.read(0, back);
    expect(Buffer.from(back).equals(content)).toBe(true);
    await other.close();
  });
});
