import { existsSync } from 'node:fs';
import { readWhole } from './files.ts';
import { StartupError } from './startup-error.ts';

/** Debian's SeaBIOS (package `seabios`): v86 ships no BIOS of its own. */
export const DEFAULT_BIOS = '/usr/share/seabios/bios.bin';
export const DEFAULT_VGA_BIOS = '/usr/share/seabios/vgabios-stdvga.bin';

export interface Firmware {
  readonly bios: ArrayBuffer;
  readonly vgaBios: ArrayBuffer;
}

/** The system BIOS (`-bios FILE` or SeaBIOS) and the VGA BIOS (always SeaBIOS's stdvga one). */
export async function loadFirmware(biosPath: string | undefined): Promise<Firmware> {
  if (biosPath === undefined && !existsSync(DEFAULT_BIOS)) {
    throw new StartupError(`could not load PC BIOS '${DEFAULT_BIOS}': install the Debian package 'seabios' (apt-get install seabios), or name a BIOS with -bios FILE`);
  }
  const bios = await readWhole(biosPath ?? DEFAULT_BIOS, (reason) => `could not load PC BIOS '${biosPath ?? DEFAULT_BIOS}': ${reason}`);
  if (!existsSync(DEFAULT_VGA_BIOS)) {
    throw new StartupError(`could not load VGA BIOS '${DEFAULT_VGA_BIOS}': install the Debian package 'seabios' (apt-get install seabios)`);
  }
  const vgaBios = await readWhole(DEFAULT_VGA_BIOS, (reason) => `could not load VGA BIOS '${DEFAULT_VGA_BIOS}': ${reason}`);
  return { bios, vgaBios };
}
