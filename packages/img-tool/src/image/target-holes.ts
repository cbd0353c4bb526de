import type { BlockNode } from '@tessera/core';
import { dataRanges } from './sparse.ts';
import { isZero } from './zero.ts';

/**
 * `convert -n` onto an existing target: of the chunk's zero runs (as long as the sparse size, as
 * `-S` counts them), those the target already reads as zeroes are left out of `ranges`, so holes
 * of a thin target stay holes. qemu-img writes zeroes there with "may unmap", which punches holes;
 * Node has no fallocate, so reading what is there is the way to keep from allocating.
 * `scratch` holds at least `data.length` bytes.
 */
export async function leaveOutZeroesTargetHas(
  target: BlockNode,
  offset: number,
  data: Uint8Array,
  ranges: ReadonlyArray<[number, number]>,
  sparseSize: number,
  scratch: Uint8Array,
): Promise<Array<[number, number]>> {
  const keep = dataRanges(data, offset, sparseSize);
  let at = 0;
  for (const [start, end] of [...keep, [data.length, data.length] as [number, number]]) {
    if (start > at && !(await targetReadsZero(target, offset + at, scratch.subarray(at, start)))) keep.push([at, start]);
    at = end;
  }
  keep.sort((a, b) => a[0] - b[0]);
  return intersect(ranges, keep);
}

async function targetReadsZero(target: BlockNode, offset: number, into: Uint8Array): Promise<boolean> {
  let at = 0;
  // What the target's block status knows to be zero is not read.
  while (at < into.length && target.blockStatus) {
    const status = await target.blockStatus(offset + at, into.length - at);
    if (!status.zero || status.length <= 0) break;
    at += status.length;
  }
  if (at >= into.length) return true;
  const rest = into.subarray(at);
  await target.read(offset + at, rest);
  return isZero(rest);
}

/** The parts of `a` that are also in `b` (both sorted, non-overlapping). */
export function intersect(a: ReadonlyArray<[number, number]>, b: ReadonlyArray<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0, j = 0; i < a.length && j < b.length; ) {
    const start = Math.max(a[i]![0], b[j]![0]);
    const end = Math.min(a[i]![1], b[j]![1]);
    if (start < end) out.push([start, end]);
    if (a[i]![1] < b[j]![1]) i++;
    else j++;
  }
  return out;
}
