import type { BlockNode } from '@tessera/core';
import { CHUNK_SIZE } from './chunks.ts';

/**
 * The unit the target allocates whole (its driver says: `BlockNode.allocationUnit`), when it
 * divides a copy chunk; undefined otherwise (then every run is written as it is).
 */
export function allocationUnit(target: BlockNode): number | undefined {
  const unit = target.allocationUnit?.();
  return unit !== undefined && CHUNK_SIZE % unit === 0 ? unit : undefined;
}

/**
 * Data ranges of a chunk at `offset` (relative to it, sorted) joined across the zero gaps that
 * hold no whole allocation unit, and widened to whole units (within the chunk): the same units
 * get allocated, with the same bytes, but with one write where there were many (a finely
 * fragmented disk has a data run every few KiB, and each write costs the driver a cluster lookup,
 * and a partial cluster a read-modify-write and a copy). `length` is the chunk's; chunks start on
 * unit boundaries (a unit divides the 2 MiB chunk), so a widened range never reaches into the
 * chunk before. Only for a target that reads as zeroes: the gaps' bytes (zeroes) are what is there.
 */
export function joinAcrossPartialUnits(ranges: ReadonlyArray<[number, number]>, offset: number, length: number, unit: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [start, end] of ranges) {
    const from = Math.max(0, Math.floor((offset + start) / unit) * unit - offset);
    const to = Math.min(length, Math.ceil((offset + end) / unit) * unit - offset);
    const last = out.at(-1);
    // Widened, ranges meet exactly where the gap between them held no whole unit.
    if (last && last[1] >= from) last[1] = to;
    else out.push([from, to]);
  }
  return out;
}
