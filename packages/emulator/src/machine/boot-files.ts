import type { MachineConfig } from './config.ts';
import { readWhole } from './files.ts';
import { checkLinuxKernel, KERNEL_ADDRESS, padKernel } from './linux-kernel.ts';
import { StartupError } from './startup-error.ts';

/** v86 copies an initrd given with `bzimage` to a fixed 64 MiB in guest memory. */
const INITRD_ADDRESS = 64 * 2 ** 20;
/** The most RAM `-m` allows (src/cli/parse.ts). */
const MAX_MEMORY_MIB = 3072;

export interface BootFiles {
  readonly kernel?: ArrayBuffer;
  readonly initrd?: ArrayBuffer;
}

/**
 * `-kernel` and `-initrd`, read whole (v86 wants them in memory), with QEMU's wording on failure.
 * Sizes are checked against where v86 puts them before anything is read.
 */
export async function loadBootFiles(machine: MachineConfig): Promise<BootFiles> {
  if (machine.kernel === undefined) return {};
  const kernelPath = machine.kernel;
  const kernelLimit = Math.min(INITRD_ADDRESS, machine.memoryBytes) - KERNEL_ADDRESS;
  const kernel = await readWhole(kernelPath, (reason) => `could not open kernel file '${kernelPath}': ${reason}`, {
    maxBytes: kernelLimit,
    refuseEmpty: true,
    tooLarge: (size) =>
      machine.memoryBytes < INITRD_ADDRESS && size < INITRD_ADDRESS - KERNEL_ADDRESS
        ? `this machine loads the kernel at 1 MiB, use -m ${Math.ceil((KERNEL_ADDRESS + size) / 2 ** 20)} or more`
        : `this machine loads the kernel at 1 MiB and the initrd at 64 MiB, so a kernel may take at most ${kernelLimit / 2 ** 20} MiB`,
  });
  const problem = checkLinuxKernel(new Uint8Array(kernel));
  if (problem) throw new StartupError(`could not load kernel '${kernelPath}': ${problem}`);
  if (machine.initrd === undefined) return { kernel: padKernel(kernel) };

  const initrdPath = machine.initrd;
  const initrdLimit = Math.max(0, machine.memoryBytes - INITRD_ADDRESS);
  const initrd = await readWhole(initrdPath, (reason) => `could not load initial ram disk '${initrdPath}': ${reason}`, {
    maxBytes: initrdLimit,
    refuseEmpty: false, // as QEMU: an empty initrd is the guest's business
    // v86 would fail deep inside with a RangeError: say what to do instead.
    tooLarge: (size) => {
      const mib = Math.ceil((INITRD_ADDRESS + size) / 2 ** 20);
      return mib <= MAX_MEMORY_MIB
        ? `this machine loads the initrd at 64 MiB, use -m ${mib} or more`
        : `this machine loads the initrd at 64 MiB and has at most ${MAX_MEMORY_MIB} MiB of RAM, so an initrd may take at most ${MAX_MEMORY_MIB - 64} MiB`;
    },
  });
  return { kernel: padKernel(kernel), initrd };
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
