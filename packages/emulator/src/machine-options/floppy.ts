import type { V86Cpu } from '../machine/v86-internals.ts';

/** Sizes of the floppy formats v86's controller knows (sectors × tracks × heads × 512), in bytes. */
const FORMATS: ReadonlyArray<readonly [sectors: number, tracks: number, heads: number]> = [
  [18, 80, 2], [20, 80, 2], [21, 80, 2], [21, 82, 2], [21, 83, 2], [22, 80, 2], [23, 80, 2], [24, 80, 2],
  [36, 80, 2], [39, 80, 2], [40, 80, 2], [44, 80, 2], [48, 80, 2], [8, 80, 2], [9, 80, 2], [10, 80, 2],
  [10, 82, 2], [10, 83, 2], [13, 80, 2], [14, 80, 2], [15, 80, 2], [18, 82, 2], [18, 83, 2], [11, 80, 2],
  [9, 40, 2], [9, 40, 1], [10, 41, 2], [10, 42, 2], [8, 40, 2], [8, 40, 1], [9, 80, 1], [10, 40, 1], [10, 40, 2],
];
const SIZES = new Set(FORMATS.map(([s, t, h]) => s * t * h * 512));

/**
 * Whether v86's floppy drive takes an image of this size. For other sizes v86 would copy the image
 * into memory padded to the next format (not possible for an image served through the block
 * layer), so tessera refuses them; QEMU guesses a geometry instead.
 */
export function checkFloppySize(bytes: number): string | undefined {
  if (SIZES.has(bytes)) return undefined;
  return `a floppy image must have the size of a floppy format (160K, 180K, 320K, 360K, 720K, 1200K, 1440K, 2880K or another v86 knows); this one has ${bytes} bytes`;
}

interface FloppyDrive {
  read_only: boolean;
}

/** Make a drive refuse writes as a write-protected disk does (v86 ends the write command with status "not writable"). */
export function setFloppyReadOnly(cpu: V86Cpu, index: number): void {
  const fdc = (cpu.devices as { fdc?: { drives: FloppyDrive[] } }).fdc;
  const drive = fdc?.drives[index];
  if (!drive) throw new Error(`internal error: v86 has no floppy drive ${index}`);
  drive.read_only = true;
}
