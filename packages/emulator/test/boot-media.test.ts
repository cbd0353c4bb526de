// Boot media nobody here wrote, from Debian's packages: each boots under tessera and under
// qemu-system-i386 at the same time, and both must reach the same point — the same text on the
// serial console, or on the VGA text screen (tessera's read through its web display, QEMU's from
// its text memory through QMP). Each machine is stopped as soon as its text appears.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { executable } from '../../../tools/test-support/executables.ts';
import { grubRescueFloppy, isolinuxCd, MEDIA, syslinuxDisk } from './support/boot-media.ts';
import { watchQemu, watchTessera, type Watch } from './support/watch-machine.ts';

const TIMEOUT_MS = 300_000;

interface Medium {
  readonly name: string;
  readonly args: () => string[];
  readonly watch: Watch;
  readonly expected: readonly string[];
}

const media: readonly Medium[] = [
  {
    // Before the fix: v86 crashed with "Maximum call stack size exceeded" (PAE large pages).
    name: "memtest86+ ia32 .bin as -kernel, serial console",
    args: () => ['-m', '128', '-kernel', MEDIA.memtestBin, '-append', 'console=ttyS0,115200'],
    watch: 'serial',
    expected: ['Memtest86+ v6.10', '[Address test, walking ones'],
  },
  {
    // Before the fix: "memory access out of bounds" in v86's wasm.
    name: 'memtest86+ ia32 .iso as -cdrom',
    args: () => ['-m', '128', '-cdrom', MEDIA.memtestIso],
    watch: 'screen',
    expected: ['Memtest86+ v6.10', 'Status: Testing'],
  },
  {
    // Before the fix: "RangeError: byte length of Uint16Array should be a multiple of 2" (its size is odd).
    name: "iPXE's ipxe.lkrn as -kernel",
    args: () => ['-kernel', MEDIA.ipxeLkrn],
    watch: 'screen',
    expected: ['iPXE 1.0.0+git-20190125.36a4c85-5.1 -- Open Source Network Boot Firmware', 'Configuring (net0'],
  },
  {
    name: "iPXE's ipxe.iso (ISOLINUX) as -cdrom",
    args: () => ['-cdrom', MEDIA.ipxeIso],
    watch: 'screen',
    expected: ['iPXE ISO boot image', 'Open Source Network Boot Firmware', 'Configuring (net0'],
  },
  {
    name: 'GRUB rescue CD (grub-rescue-pc) to its menu',
    args: () => ['-cdrom', MEDIA.grubRescueCd],
    watch: 'screen',
    expected: ['GNU GRUB  version 2.06', 'Memtest86+', 'The highlighted entry will be executed automatically'],
  },
  {
    name: 'GRUB rescue floppy (grub-rescue-pc) as -fda to its menu',
    // snapshot=on: both machines open the one image (each keeps writers out, neither writes).
    args: () => ['-drive', `file=${grubRescueFloppy()},if=floppy,format=raw,snapshot=on`],
    watch: 'screen',
    expected: ['GNU GRUB  version 2.06', 'Memtest86+', 'The highlighted entry will be executed automatically'],
  },
  {
    name: 'an ISOLINUX CD (xorriso) loading memtest86+',
    args: () => ['-cdrom', isolinuxCd()],
    watch: 'serial',
    expected: ['ISOLINUX 6.04', 'Loading /memtest.bin... ok'],
  },
  {
    name: 'a SYSLINUX FAT hard disk to its boot prompt',
    // snapshot=on: both machines open the one image (each keeps writers out, neither writes).
    args: () => ['-drive', `file=${syslinuxDisk()},format=raw,snapshot=on`],
    watch: 'serial',
    expected: ['SYSLINUX 6.04', 'boot:'],
  },
  {
    name: "the Debian 12 installer's netboot kernel and initrd to its own init",
    args: () => ['-m', '256', '-kernel', MEDIA.installerKernel, '-initrd', MEDIA.installerInitrd, '-append', 'console=ttyS0'],
    watch: 'serial',
    expected: ['Run /init as init process', 'Starting system log daemon: syslogd, klogd.'],
  },
];

describe.sequential('stock boot media reach the same point under tessera and qemu-system-i386', () => {
  it.each(media)('$name', async (medium) => {
    for (const file of Object.values(MEDIA)) expect(existsSync(file), `${file} (run tools/setup.sh)`).toBe(true);
    const args = medium.args();
    // Both at once: one medium's boots share the machine, the next medium waits.
    const [tessera, qemu] = await Promise.all([
      watchTessera(executable('emulator', 'modular'), args, medium.watch, medium.expected, TIMEOUT_MS - 20_000),
      watchQemu(args, medium.watch, medium.expected, TIMEOUT_MS - 20_000),
    ]);
    const shown = (seen: typeof tessera) => (medium.watch === 'serial' ? seen.serial.slice(-2000) : seen.screen);
    expect(qemu.reached, `qemu-system-i386 did not show ${JSON.stringify(medium.expected)}:\n${shown(qemu)}\n${qemu.stderr}`).toBe(true);
    expect(tessera.reached, `tessera did not show ${JSON.stringify(medium.expected)}:\n${shown(tessera)}\n${tessera.stderr}`).toBe(true);
    expect(tessera.stderr).not.toMatch(/\n\s+at |RangeError|RuntimeError|the machine stopped/);
    console.log(`${medium.name}: tessera ${tessera.seconds.toFixed(1)} s, qemu-system-i386 ${qemu.seconds.toFixed(1)} s`);
  }, TIMEOUT_MS);
});
