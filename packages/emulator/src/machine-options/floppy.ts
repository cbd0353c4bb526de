import type { V86Cpu } from '../machine/v86-internals.ts';

/** Sizes of the floppy formats v86's controller knows (sectors × tracks × heads × 512), in bytes. */
const FORMATS: ReadonlyArray<readonly [sectors: number, tracks: number, heads: number]> = [
  [18, 80, 2], [20, 80, 2], [21, 80, 2], [21, 82, 2], [21, 83, 2], [22, 80, 2], [23, 80, 2], [24, 80, 2],
  [36, 80, 2], [39, 80, 2], [40, 80, 2], [44, 80, 2], [48, 80, 2], [8, 80, 2], [9, 80, 2], [10, 80, 2],
  [10, 82, 2], [10, 83, 2], [13, 80, 2], [14, 80, 2], [15, 80, 2], [18, 82, 2], [18, 83, 2], [11, 80, 2],
  [9, 40, 2], [9, 40, 1], [10, 41, 2], [10, 42, 2], [8, 40, 2], [8, 40, 1], [9, 80, 1], [10, 40, 1], [10, 40, 2],
];
const SIZES = new Set(FORMATS.map(([s, t, h]) => s * t * h * 512));

/** QEMU's geometry for an image of no floppy format's size: its fallback drive type (2.88 MB) and that type's first format, 36 sectors × 80 tracks × 2 heads. */
export const FALLBACK_FLOPPY_BYTES = 36 * 80 * 2 * 512;

/**
 * The size v86's floppy drive must be shown at insertion so that it picks the geometry QEMU
 * would: the image's own size when it is a floppy format's, else QEMU's fallback (2.88 MB, what
 * qemu-system-i386 7.2 gives a 1,000,000-byte or 3 MiB image: `info qtree` says drive-type 288).
 * v86 would instead copy a smaller image into memory padded to the next format (impossible for an
 * image served through the block layer) and refuse a larger one. The real size is given back
 * after insertion (restoreFloppySize): v86's DMA then fails a transfer past the image's end, as
 * QEMU answers it with an I/O error, and never touches bytes that are not in the image.
 */
export function floppyInsertSize(bytes: number): number {
  return SIZES.has(bytes) ? bytes : FALLBACK_FLOPPY_BYTES;
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
