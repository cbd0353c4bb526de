// The emulator boots the test guest from an encrypted qcow2 disk (encrypt.format=luks, made by
// qemu-img): `-object secret` gives the passphrase, `-drive …,encrypt.key-secret=` names it. The
// guest reads its files and writes one; qemu-img then finds the write in the image with the same
// passphrase. Without the secret the machine does not start, in qemu's words.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect, it } from 'vitest';
import { executable, run } from '../../../tools/test-support/executables.ts';
import { qemuImgOrThrow } from '../../../tools/test-support/qemu-img.ts';
import { boot, BOOT_TIMEOUT_MS, markers } from './support/boot.ts';
import { diskCopy, fatFile, kernelArgs } from './support/guest.ts';

it('boots from a LUKS-encrypted qcow2 through -object secret; the guest\'s write is in the image', async () => {
  const raw = diskCopy();
  const dir = dirname(raw);
  const image = join(dir, 'disk.qcow2');
  const secret = 'secret,id=sec0,data=correct horse';
  try {
    qemuImgOrThrow(['convert', '--object', secret, '-O', 'qcow2', '-o', 'encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=100', raw, image]);
    const drive = `file=${image},format=qcow2,if=ide,encrypt.key-secret=sec0`;
    const refused = await run(executable('emulator', 'modular'), ['-display', 'none', '-drive', drive]);
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringContaining("No secret with id 'sec0'") });

    // -kernel: the guest's disk test without SYSLINUX loading the kernel through the BIOS (the slow part of a disk boot).
    const result = await boot(executable('emulator', 'modular'), ['-m', '128', '-nographic', ...kernelArgs('disk'), '-object', secret, '-drive', drive]);
    const seen = markers(result.stdout);
    expect(seen).toContain('host.txt=tessera-host-file-ok');
    expect(seen).toContain('disk done');
    expect(seen.some((m) => m.startsWith('error'))).toBe(false);
    expect(result.code).toBe(0);
    qemuImgOrThrow(['convert', '--object', secret, '--image-opts', `driver=qcow2,encrypt.key-secret=sec0,file.filename=${image}`, '-O', 'raw', raw]);
    expect(fatFile(raw, 'guest.txt')?.trim()).toBe('tessera-guest-wrote-this');
    console.log(`encrypted qcow2 disk boot to power-off: ${result.seconds.toFixed(1)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, BOOT_TIMEOUT_MS);
