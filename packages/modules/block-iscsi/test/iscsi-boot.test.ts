// The emulator boots the test guest from an iscsi:// LUN served by tgtd (one boot): the guest
// reads its files and writes one, and the write is in the LUN's backing file afterwards.
import { expect, it } from 'vitest';
import { BOOT_TIMEOUT_MS } from '../../../emulator/test/support/boot.ts';
import { diskCopy, fatFile } from '../../../emulator/test/support/guest.ts';
import { bootsFromRemoteDisk } from '../../../emulator/test/support/remote-boot.ts';
import { startTgtd } from './helpers/tgtd.ts';

const IQN = 'iqn.2026-12.org.tessera.test:guest';

it('tessera boots the test guest from iscsi:// (tgtd); the guest reads its files and its write lands in the LUN', async () => {
  const disk = diskCopy();
  expect(fatFile(disk, 'guest.txt')).toBeUndefined();
  const tgtd = await startTgtd([{ tid: 1, iqn: IQN, file: disk }]);
  try {
    await bootsFromRemoteDisk('iscsi', tgtd.url(IQN), async () => {
      await tgtd.stop();
      return disk;
    });
  } finally {
    await tgtd.stop();
  }
}, BOOT_TIMEOUT_MS);
