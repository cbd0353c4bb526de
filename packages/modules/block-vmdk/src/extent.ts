import type { BlockNode, BlockStatus } from '@tessera/core';

/**
 * One extent of a VMDK disk: a consecutive range of guest sectors stored one way (a flat file, a
 * sparse file, nothing). Offsets are relative to the extent's own start.
 */
export interface Extent {
  /** Guest bytes the extent covers. */
  readonly length: number;
  /** The extent's file (absent for ZERO extents). */
  readonly file?: BlockNode;
  readonly writable: boolean;
  read(offset: number, into: Uint8Array): Promise<void>;
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Zero a range without writing data when the extent can (zeroed-grain entries); false: write zeroes instead. */
  zero?(offset: number, length: number): Promise<boolean>;
  status(offset: number, length: number): Promise<BlockStatus>;
  /** qemu's extent ImageInfo for `info`, keys in qemu-img's order. */
  info(): Record<string, unknown>;
  flush(): Promise<void>;
  /**
   * qemu's vmdk check for this extent: the first grain (in guest order) whose data lies past the end
   * of its file, as qemu-img words it; `firstSector` is the extent's first guest sector.
   */
  check?(firstSector: number): Promise<string | undefined>;
  /** Finish what the extent holds back (a stream's tables and footer); closes nothing. */
  finish?(): Promise<void>;
}
