// The writes of one turn of the event loop, made by one thread-pool job through the addon
// (src/write-batch.ts): every write lands where it was asked to, however many a turn gives, and a
// write that fails fails alone, with the code and words fs.write would give it.
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ofdLocks } from '../src/native-lock.ts';
import { WriteBatch } from '../src/write-batch.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-write-batch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function withFile<T>(name: string, use: (fd: number, path: string) => Promise<T>): Promise<T> {
  const path = join(dir, name);
  const fd = openSync(path, 'w+');
  return use(fd, path).finally(() => closeSync(fd));
}

describe('WriteBatch', () => {
  it('5,000 writes in one turn (more than one job takes) all land, each at its place', async () => {
    const addon = ofdLocks();
    await withFile('many.bin', async (fd, path) => {
      const batch = new WriteBatch(fd, () => addon);
      const bytes = randomBytes(5000 * 512);
      // Given in reverse, so a write landing at another's place would show.
      const writes = [];
      for (let i = 4999; i >= 0; i--) writes.push(batch.write(bytes.subarray(i * 512, (i + 1) * 512), i * 512));
      await Promise.all(writes);
      expect(readFileSync(path).equals(bytes)).toBe(true);
    });
  });

  it('a write that fails in a batch fails alone, as fs.write words it; the others land', async () => {
    const addon = ofdLocks();
    // 1 PiB is past ext4's largest file (16 TiB), where the tests run: EFBIG.
    const far = 2 ** 50;
    let expected: NodeJS.ErrnoException | undefined;
    await withFile('control.bin', async (fd) => {
      try {
        writeSync(fd, Buffer.from('x'), 0, 1, far);
      } catch (error) {
        expected = error as NodeJS.ErrnoException;
      }
    });
    expect(expected?.code).toBe('EFBIG');
    await withFile('mixed.bin', async (fd, path) => {
      const batch = new WriteBatch(fd, () => addon);
      const [first, failing, last] = await Promise.allSettled([
        batch.write(Buffer.from('first'), 0),
        batch.write(Buffer.from('x'), far),
        batch.write(Buffer.from('last'), 4096),
      ]);
      expect([first.status, last.status]).toEqual(['fulfilled', 'fulfilled']);
      expect(failing.status).toBe('rejected');
      const error = (failing as PromiseRejectedResult).reason as NodeJS.ErrnoException;
      expect({ code: error.code, errno: error.errno, syscall: error.syscall, message: error.message }).toEqual({
        code: expected!.code,
        errno: expected!.errno,
        syscall: 'write',
        message: expected!.message,
      });
      const written = readFileSync(path);
      expect(written.subarray(0, 5).toString()).toBe('first');
      expect(written.subarray(4096, 4100).toString()).toBe('last');
    });
  });

  it('without the addon each write goes through fs.write, and still lands', async () => {
    await withFile('plain.bin', async (fd, path) => {
      const batch = new WriteBatch(fd, () => undefined);
      await Promise.all([batch.write(Buffer.from('ab'), 0), batch.write(Buffer.from('cd'), 2)]);
      expect(readFileSync(path).toString()).toBe('abcd');
    });
  });
});
