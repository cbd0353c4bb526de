// The emulator boots the test guest from an rbd: disk (one boot): the guest reads its files and
// writes one, and the write is in the RBD image afterwards, as qemu-img reads it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BOOT_TIMEOUT_MS } from '../../../emulator/test/support/boot.ts';
import { diskCopy, fatFile } from '../../../emulator/test/support/guest.ts';
import { bootsFromRemoteDisk } from '../../../emulator/test/support/remote-boot.ts';
import { startCeph, type RunningCeph } from './helpers/ceph.ts';

let ceph: RunningCeph;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-rbd-boot-'));
  ceph = await startCeph();
}, 60_000);

afterAll(async () => {
  await ceph?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('tessera boots the test guest from rbd:rbd/guest; the guest reads its files and its write lands in the image', async () => {
  const local = diskCopy();
  expect(fatFile(local, 'guest.txt')).toBeUndefined();
  const name = ceph.location('guest');
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', local, name]);
  const after = join(dir, 'after.img');
  await bootsFromRemoteDisk('rbd', name, () => {
    execFileSync('qemu-img', ['convert', '-O', 'raw', name, after]);
    return after;
  });
}, BOOT_TIMEOUT_MS);
