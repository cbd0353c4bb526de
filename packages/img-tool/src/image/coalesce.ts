import type { BlockNode } from '@tessera/core';

/**
 * The unit a target allocates in, when writing zeroes inside a unit that data allocates anyway
 * changes nothing a reader can see: qcow2 (without subclusters) stores a partly written cluster
 * whole, its unwritten bytes zero, and maps the whole cluster as data. Undefined for other
 * targets: a raw file (or a qcow2 external data file) would allocate the zeroes, and
 * subclusters map on their own.
 */
export function allocationUnit(target: BlockNode): number | undefined {
  if (target.driver !== 'qcow2' || target.backing) return undefined;
  const description = target.describe?.();
  const details = description?.formatSpecific?.data;
  if (!details || details['extended-l2'] === true || details['data-file'] !== undefined) return undefined;
  return description.clusterSize;
}

/**
 * Data ranges of a chunk at `offset` (relative to it, sorted) joined across the zero gaps that
 * hold no whole allocation unit: the same units get allocated, with the same bytes, but with one
 * write where there were many (a finely fragmented disk has a data run every few KiB, and each
 * write costs the driver a cluster lookup and a read-modify-write of the partial clusters).
 * Only for a target that reads as zeroes, so the gap's bytes are zeroes there already.
 */
export function joinAcrossPartialUnits(ranges: ReadonlyArray<[number, number]>, offset: number, unit: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [start, end] of ranges) {
    const last = out.at(-1);
    // The gap [last end, start) holds a whole unit iff the first unit boundary in it is followed by a full unit.
    if (last && Math.ceil((offset + last[1]) / unit) * unit + unit > offset + start) last[1] = end;
    else out.push([start, end]);
  }
  return out;
}
