// The file protocol's image locks, from source: QEMU's bytes for each permission, checked from
// another open file description (OFD locks conflict between two opens in one process, as between
// processes); changes of permissions; creation that empties a file only once it holds the locks.
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BlockPermissions } from '@tessera/core';
import { fileProtocol } from '../src/file-protocol.ts';
import { ofdLocks } from '../src/native-lock.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-block-file-locks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function heldBytes(path: string): number[] {
  const fd = openSync(path, 'r');
  try {
    return [100, 101, 102, 103, 200, 201, 202, 203].filter((byte) => ofdLocks().conflicts(fd, byte));
  } finally {
    closeSync(fd);
  }
}

const open = (path: string, permissions: BlockPermissions, readOnly = false) => fileProtocol.open(path, { readOnly, driverOptions: {}, permissions });
const hint = (path: string) => `\nIs another process using the image [${path}]?`;

describe('image locks of the file protocol', () => {
  it('locks byte 100+bit for each permission used and 200+bit for each not shared, and releases them at close', async () => {
    const path = join(dir, 'bytes.img');
    writeFileSync(path, new Uint8Array(4096));
    const node = await open(path, { use: ['consistent read', 'write', 'resize'], unshare: ['write', 'resize'] });
    expect(heldBytes(path)).toEqual([100, 101, 103, 201, 203]);
    await node.setPermissions!({ use: ['consistent read'], unshare: ['write unchanged'] });
    expect(heldBytes(path)).toEqual([100, 202]);
    await node.close();
    expect(heldBytes(path)).toEqual([]);
    // A read-only open without permissions: read, forbid nothing.
    const plain = await fileProtocol.open(path, { readOnly: true, driverOptions: {} });
    expect(heldBytes(path)).toEqual([100]);
    await plain.close();
  });

  it('refuses a conflicting open with qemu\'s messages, and a refused change keeps the locks held before', async () => {
    const path = join(dir, 'conflict.img');
    writeFileSync(path, new Uint8Array(4096));
    const writer = await open(path, { use: ['consistent read', 'write'], unshare: ['write'] });
    await expect(open(path, { use: ['consistent read', 'write'], unshare: [] })).rejects.toThrow(`Failed to get "write" lock${hint(path)}`);
    await expect(open(path, { use: ['consistent read'], unshare: ['write'] }, true)).rejects.toThrow(`Failed to get shared "write" lock${hint(path)}`);
    const reader = await open(path, { use: ['consistent read'], unshare: [] }, true);
    await expect(reader.setPermissions!({ use: ['consistent read'], unshare: ['write', 'resize'] })).rejects.toMatchObject({ code: 'image-locked' });
    expect(heldBytes(path)).toEqual([100, 101, 201]); // the reader's 100 stays, nothing of the refused change
    await writer.close();
    await reader.setPermissions!({ use: ['consistent read'], unshare: ['write', 'resize'] });
    expect(heldBytes(path)).toEqual([100, 201, 203]);
    await reader.close();
  });

  it('creation over a file in use fails and leaves its bytes; over a free file it empties it to the size', async () => {
    const path = join(dir, 'create.img');
    const data = randomBytes(8192);
    writeFileSync(path, data);
    const user = await open(path, { use: ['consistent read'], unshare: ['write'] }, true);
    await expect(fileProtocol.create!(path, 4096)).rejects.toThrow(`Failed to get "write" lock${hint(path)}`);
    expect(readFileSync(path).equals(data)).toBe(true);
    await user.close();
    await fileProtocol.create!(path, 4096);
    expect(readFileSync(path).equals(Buffer.alloc(4096))).toBe(true);
  });
});
