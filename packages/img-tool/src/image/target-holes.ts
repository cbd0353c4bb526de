import type { BlockNode } from '@tessera/core';
import { isZero } from './zero.ts';

/**
 * `convert -n` onto an existing raw target: of the chunk's zero runs (written as write-zeroes),
 * those the target already reads as zeroes are left out, so holes of a thin target stay holes.
 * qemu-img writes zeroes there with "may unmap", which punches holes; Node has no fallocate, so
 * reading what is there is the way to keep from allocating. `zeroes` are ranges relative to the
 * chunk at `offset`; `scratch` holds at least the chunk's length.
 */
export async function leaveOutZeroesTargetHas(
  target: BlockNode,
  offset: number,
  zeroes: ReadonlyArray<[number, number]>,
  scratch: Uint8Array,
): Promise<Array<[number, number]>> {
  const needed: Array<[number, number]> = [];
  for (const [start, end] of zeroes) {
    if (!(await targetReadsZero(target, offset + start, scratch.subarray(start, end)))) needed.push([start, end]);
  }
  return needed;
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

/** The parts of `[0, length)` not in `ranges` (sorted, non-overlapping). */
export function complement(ranges: ReadonlyArray<[number, number]>, length: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let at = 0;
  for (const [start, end] of ranges) {
    if (start > at) out.push([at, start]);
    at = Math.max(at, end);
  }
  if (at < length) out.push([at, length]);
  return out;
}
