// The emulator boots the test guest from an rbd: disk (one boot): the guest reads its files and
// writes one, and the write is in the RBD image afterwards, as qemu-img reads it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { executable } from '../../../../tools/test-support/executables.ts';
import { boot, BOOT_TIMEOUT_MS, markers } from '../../../emulator/test/support/boot.ts';
import { diskCopy, fatFile } from '../../../emulator/test/support/guest.ts';
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
  const result = await boot(executable('emulator', 'modular'), ['-m', '128', '-display', 'none', '-serial', 'stdio', '-drive', `file=${name},format=raw,if=ide`]);
  const seen = markers(result.stdout);
  expect(seen).toContain('host.txt=tessera-host-file-ok');
  expect(seen).toContain('disk done');
  expect(seen.some((m) => m.startsWith('error'))).toBe(false);
  expect(result.code).toBe(0);
  const after = join(dir, 'after.img');
  execFileSync('qemu-img', ['convert', '-O', 'raw', name, after]);
  expect(fatFile(after, 'guest.txt')?.trim()).toBe('tessera-guest-wrote-this');
  console.log(`rbd disk boot to power-off: ${result.seconds.toFixed(1)} s`);
}, BOOT_TIMEOUT_MS);
