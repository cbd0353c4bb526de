// Boot media from Debian's packages (tools/setup.sh installs them), and the two made here from
// Debian's SYSLINUX/ISOLINUX binaries: a CD (xorriso) and a FAT hard disk (mkfs.fat + syslinux).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MEDIA = {
  memtestBin: '/boot/memtest86+ia32.bin', // memtest86+
  memtestIso: '/usr/lib/memtest86+/memtest86+ia32.iso',
  ipxeLkrn: '/usr/lib/ipxe/ipxe.lkrn', // ipxe (306521 bytes: an odd size)
  ipxeIso: '/usr/lib/ipxe/ipxe.iso',
  grubRescueCd: '/usr/lib/grub-rescue/grub-rescue-cdrom.iso', // grub-rescue-pc
  grubRescueFloppy: '/usr/lib/grub-rescue/grub-rescue-floppy.img', // grub-rescue-pc (1296384 bytes: no floppy format's size)
  installerKernel: '/usr/lib/debian-installer/images/12/i386/text/debian-installer/i386/linux', // debian-installer-12-netboot-i386
  installerInitrd: '/usr/lib/debian-installer/images/12/i386/text/debian-installer/i386/initrd.gz',
  isolinuxBin: '/usr/lib/ISOLINUX/isolinux.bin', // isolinux
  ldlinux: '/usr/lib/syslinux/modules/bios/ldlinux.c32', // syslinux-common
} as const;

function config(extra: string): string {
  // SERIAL first: what SYSLINUX prints after reading it (loading messages, the boot prompt) goes to COM1 too.
  return `SERIAL 0 115200\n${extra}`;
}

/** An ISOLINUX CD (no emulation El Torito) that boots memtest86+ with a serial console. */
export function isolinuxCd(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-isolinux-'));
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'isolinux'), { recursive: true });
  copyFileSync(MEDIA.isolinuxBin, join(tree, 'isolinux/isolinux.bin'));
  copyFileSync(MEDIA.ldlinux, join(tree, 'isolinux/ldlinux.c32'));
  copyFileSync(MEDIA.memtestBin, join(tree, 'memtest.bin'));
  writeFileSync(join(tree, 'isolinux/isolinux.cfg'), config('DEFAULT memtest\nLABEL memtest\n  LINUX /memtest.bin\n  APPEND console=ttyS0,115200\n'));
  const iso = join(dir, 'isolinux.iso');
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', tree], { stdio: 'pipe' });
  return iso;
}

/** A FAT hard disk (no partition table) with SYSLINUX in its boot sector, stopping at its prompt. */
export function syslinuxDisk(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-syslinux-'));
  const disk = join(dir, 'syslinux.img');
  // 8 sectors a cluster: few enough clusters for FAT12, which SYSLINUX insists on at this size.
  execFileSync('mkfs.fat', ['-s', '8', '-C', disk, String(8 * 1024)], { stdio: 'pipe' });
  execFileSync('syslinux', ['--install', disk], { stdio: 'pipe' });
  const cfg = join(dir, 'syslinux.cfg');
  writeFileSync(cfg, config('PROMPT 1\nTIMEOUT 0\n'));
  execFileSync('mcopy', ['-i', disk, cfg, '::syslinux.cfg'], { stdio: 'pipe', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  return disk;
}

/**
 * GRUB's rescue floppy as the package ships it: 1296384 bytes, no floppy format's size. Both
 * emulators give it QEMU's fallback geometry (2.88 MB); the test runs it with snapshot=on.
 */
export function grubRescueFloppy(): string {
  return MEDIA.grubRescueFloppy;
}
