/**
 * What v86's `bzimage` loader needs of a `-kernel` file, checked first: v86 silently boots without
 * a kernel it does not recognise, and reads the header through 16- and 32-bit views of the whole
 * file (a RangeError for a size that is not a multiple of 4, e.g. iPXE's ipxe.lkrn).
 */

/** v86 puts the protected-mode part of the kernel at 1 MiB, whatever the header prefers. */
export const KERNEL_ADDRESS = 2 ** 20;

const BOOT_FLAG_OFFSET = 0x1fe; // 0xAA55
const HEADER_MAGIC_OFFSET = 0x202; // "HdrS"
const VERSION_OFFSET = 0x206;
const LOADFLAGS_OFFSET = 0x211;
const LOADED_HIGH = 0x01;
/** Up to and including cmd_line_ptr (boot protocol 2.02), the last field v86 writes. */
const HEADER_END = 0x22c;

/** Why the file cannot be booted by v86, or undefined when it can. */
export function checkLinuxKernel(kernel: Uint8Array): string | undefined {
  const notLinux = 'it is not a Linux kernel (bzImage): this machine boots only kernels with the Linux x86 boot protocol (no multiboot, ELF or raw images)';
  if (kernel.byteLength < HEADER_END) return notLinux;
  const view = new DataView(kernel.buffer, kernel.byteOffset, kernel.byteLength);
  if (view.getUint16(BOOT_FLAG_OFFSET, true) !== 0xaa55 || view.getUint32(HEADER_MAGIC_OFFSET, true) !== 0x53726448) return notLinux;
  const version = view.getUint16(VERSION_OFFSET, true);
  if (version < 0x202) return `its Linux boot protocol is ${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}; this machine needs 2.02 or later`;
  if ((kernel[LOADFLAGS_OFFSET]! & LOADED_HIGH) === 0) return 'it is a zImage (loaded below 1 MiB); this machine boots only bzImage kernels';
  const setupSectors = kernel[0x1f1] || 4;
  if ((setupSectors + 1) * 512 >= kernel.byteLength) return `it is truncated: its setup code claims ${setupSectors} sectors but the file ends before its protected-mode part`;
  return undefined;
}

/** The kernel padded with zeroes to a multiple of 4 bytes (v86 views it as Uint32Array); bytes past the image are never run. */
export function padKernel(kernel: ArrayBuffer): ArrayBuffer {
  const rest = kernel.byteLength % 4;
  if (rest === 0) return kernel;
  const padded = new Uint8Array(kernel.byteLength + 4 - rest);
  padded.set(new Uint8Array(kernel));
  return padded.buffer;
}
