// One boot of the test guest from a disk the emulator reaches through a protocol module (nbd://,
// iscsi://, rbd:): the guest reads its files and writes one, and the write must be in the image
// afterwards, read back the way the test says (after the server is stopped, or through qemu-img).
import { expect } from 'vitest';
import { executable } from '../../../../tools/test-support/executables.ts';
import { boot, markers } from './boot.ts';
import { fatFile } from './guest.ts';

/** Boots `-drive file=<location>,format=raw` and checks the guest's run; `written()` gives a raw copy of the disk after the boot. */
export async function bootsFromRemoteDisk(protocol: string, location: string, written: () => Promise<string> | string): Promise<void> {
  const result = await boot(executable('emulator', 'modular'), ['-m', '128', '-display', 'none', '-serial', 'stdio', '-drive', `file=${location},format=raw,if=ide`]);
  const seen = markers(result.stdout);
  expect(seen).toContain('host.txt=tessera-host-file-ok');
  expect(seen).toContain('disk done');
  expect(seen.some((m) => m.startsWith('error'))).toBe(false);
  expect(result.code).toBe(0);
  expect(fatFile(await written(), 'guest.txt')?.trim()).toBe('tessera-guest-wrote-this');
  console.log(`${protocol} disk boot to power-off: ${result.seconds.toFixed(1)} s`);
}
