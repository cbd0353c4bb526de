// cache=unsafe: the format driver's storage ignores flushes and is otherwise the storage itself.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { withoutFlushes } from '../src/block/unsafe-cache.ts';
import { fileProtocol } from '../../modules/block-file/src/file-protocol.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-unsafe-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('flush does nothing; reads, writes, the live size and optional operations are the file its own', async () => {
  const path = join(dir, 'disk.raw');
  writeFileSync(path, Buffer.alloc(4096, 1));
  const file = await fileProtocol.open(path, { readOnly: false, driverOptions: {} });
  const flush = vi.spyOn(file, 'flush');
  const node = withoutFlushes(file);

  await node.flush();
  expect(flush).not.toHaveBeenCalled();
  await node.write(4096, new Uint8Array(512).fill(2)); // grows the file
  expect(node.size).toBe(4608);
  const back = new Uint8Array(2);
  await node.read(4095, back);
  expect([...back]).toEqual([1, 2]);
  expect(await node.allocatedSize?.()).toBe(await file.allocatedSize?.());
  expect(node.driver).toBe('file');
  await file.flush(); // the file itself still flushes
  expect(flush).toHaveBeenCalledTimes(1);
  await node.close();
  expect(readFileSync(path).length).toBe(4608);
});
