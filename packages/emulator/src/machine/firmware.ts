import { existsSync } from 'node:fs';
import { readWhole } from './files.ts';
import { StartupError } from './startup-error.ts';

/** Debian's SeaBIOS (package `seabios`): v86 ships no BIOS of its own. */
export const DEFAULT_BIOS = '/usr/share/seabios/bios.bin';
export const DEFAULT_VGA_BIOS = '/usr/share/seabios/vgabios-stdvga.bin';

/**
 * v86 copies the system BIOS to end at 1 MiB and the VGA BIOS to 0xC0000: a system BIOS larger than
 * 128 KiB would be overwritten by the VGA BIOS. QEMU wants whole 64 KiB units too.
 */
const BIOS_MAX_BYTES = 128 * 1024;
const BIOS_UNIT = 64 * 1024;
const VGA_BIOS_MAX_BYTES = 128 * 1024;

export interface Firmware {
  readonly bios: ArrayBuffer;
  readonly vgaBios: ArrayBuffer;
}

/** The system BIOS (`-bios FILE` or SeaBIOS) and the VGA BIOS (always SeaBIOS's stdvga one). */
export async function loadFirmware(biosPath: string | undefined): Promise<Firmware> {
  if (biosPath === undefined && !existsSync(DEFAULT_BIOS)) {
    throw new StartupError(`could not load PC BIOS '${DEFAULT_BIOS}': install the Debian package 'seabios' (apt-get install seabios), or name a BIOS with -bios FILE`);
  }
  const path = biosPath ?? DEFAULT_BIOS;
  const describe = (reason: string) => `could not load PC BIOS '${path}': ${reason}`;
  const bios = await readWhole(path, describe, {
    maxBytes: BIOS_MAX_BYTES,
    refuseEmpty: true,
    tooLarge: () => `this machine takes a BIOS of at most ${BIOS_MAX_BYTES / 1024} KiB (SeaBIOS's bios.bin)`,
  });
  if (bios.byteLength % BIOS_UNIT !== 0) {
    throw new StartupError(describe(`its size (${bios.byteLength} bytes) is not a multiple of 64 KiB, so it is not a PC BIOS image`));
  }
  if (!existsSync(DEFAULT_VGA_BIOS)) {
    throw new StartupError(`could not load VGA BIOS '${DEFAULT_VGA_BIOS}': install the Debian package 'seabios' (apt-get install seabios)`);
  }
  const vgaBios = await readWhole(DEFAULT_VGA_BIOS, (reason) => `could not load VGA BIOS '${DEFAULT_VGA_BIOS}': ${reason}`, {
    maxBytes: VGA_BIOS_MAX_BYTES,
    refuseEmpty: true,
    tooLarge: () => "reinstall the Debian package 'seabios'",
  });
  return { bios, vgaBios };
}
