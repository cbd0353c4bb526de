import type { MachineConfig } from './config.ts';
import { readWhole } from './files.ts';
import { StartupError } from './startup-error.ts';

/** v86 copies an initrd given with `bzimage` to a fixed 64 MiB in guest memory. */
const INITRD_ADDRESS = 64 * 2 ** 20;

export interface BootFiles {
  readonly kernel?: ArrayBuffer;
  readonly initrd?: ArrayBuffer;
}

/** `-kernel` and `-initrd`, read whole (v86 wants them in memory), with QEMU's wording on failure. */
export async function loadBootFiles(machine: MachineConfig): Promise<BootFiles> {
  if (machine.kernel === undefined) return {};
  const kernel = await readWhole(machine.kernel, (reason) => `could not open kernel file '${machine.kernel}': ${reason}`);
  if (machine.initrd === undefined) return { kernel };
  const initrd = await readWhole(machine.initrd, (reason) => `could not load initial ram disk '${machine.initrd}': ${reason}`);
  const needed = INITRD_ADDRESS + initrd.byteLength;
  if (machine.memoryBytes < needed) {
    // v86 would fail deep inside with a RangeError: say what to do instead.
    const mib = Math.ceil(needed / 2 ** 20);
    throw new StartupError(`-m ${machine.memoryBytes / 2 ** 20}M is too small for -initrd: this machine loads the initrd at 64 MiB, use -m ${mib} or more`);
  }
  return { kernel, initrd };
}

/** QEMU's `-boot order=` letters as v86's boot_order: one SeaBIOS device code per nibble, first in the lowest. */
export function v86BootOrder(order: string): number {
  const codes: Record<string, number> = { a: 1, c: 2, d: 3 };
  const sequence: number[] = [];
  for (const letter of order + 'cda') {
    const code = codes[letter];
    if (code !== undefined && !sequence.includes(code)) sequence.push(code);
  }
  return sequence.reduce((value, code, i) => value | (code << (4 * i)), 0);
}
