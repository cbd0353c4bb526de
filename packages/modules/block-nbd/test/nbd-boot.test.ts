// The emulator boots the test guest from an nbd+unix:// disk served by qemu-nbd (one boot): the
// guest reads its files and writes one, and the write is in the served file afterwards.
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { BOOT_TIMEOUT_MS } from '../../../emulator/test/support/boot.ts';
import { diskCopy, fatFile } from '../../../emulator/test/support/guest.ts';
import { bootsFromRemoteDisk } from '../../../emulator/test/support/remote-boot.ts';
import { startServer } from './helpers/servers.ts';

it('tessera boots the test guest from nbd+unix:// (qemu-nbd); the guest reads its files and its write lands in the export', async () => {
  const disk = diskCopy();
  expect(fatFile(disk, 'guest.txt')).toBeUndefined();
  const socket = join(disk, '..', 'nbd.sock');
  const server = await startServer('qemu-nbd', ['-f', 'raw', '-t', '-x', 'guest', '-k', socket, disk], socket);
  try {
    await bootsFromRemoteDisk('nbd', `nbd+unix:///guest?socket=${socket}`, async () => {
      await server.stop();
      return disk;
    });
  } finally {
    await server.stop();
  }
}, BOOT_TIMEOUT_MS);
