import type { BlockNode } from '@tessera/core';
import { isZero } from './zero.ts';

/**
 * `convert -n` onto an existing raw target: of the chunk's zero runs (written as write-zeroes),
 * those the target already reads as zeroes are left out, so holes of a thin target stay holes.
 * qemu-img writes zeroes there with "may unmap", which punches holes; Node has no fallocate, so
 * reading what is there is the way to keep from allocating. `zeroes` are ranges relative to the
 * chunk at `offset`; `scratch` holds at least the chunk's length. The target's block status is
 * asked about the zero runs' whole span at once (one NBD request per chunk, not one per run).
 */
export async function leaveOutZeroesTargetHas(
  target: BlockNode,
  offset: number,
  zeroes: ReadonlyArray<[number, number]>,
  scratch: Uint8Array,
): Promise<Array<[number, number]>> {
  if (zeroes.length === 0) return [];
  const known = await knownZeroes(target, offset, zeroes[0]![0], zeroes.at(-1)![1]);
  const needed: Array<[number, number]> = [];
  for (const range of zeroes) {
    // What block status does not know to be zero is read and looked at.
    let zero = true;
    for (const [start, end] of complementWithin(known, range)) {
      const part = scratch.subarray(start, end);
      await target.read(offset + start, part);
      if (!isZero(part)) {
        zero = false;
        break;
      }
    }
    if (!zero) needed.push(range);
  }
  return needed;
}

/** The runs of `[from, to)` (relative to the chunk at `offset`) the target's block status reports as zeroes. */
async function knownZeroes(target: BlockNode, offset: number, from: number, to: number): Promise<Array<[number, number]>> {
  const runs: Array<[number, number]> = [];
  for (let at = from; at < to && target.blockStatus; ) {
    const status = await target.blockStatus(offset + at, to - at);
    if (status.length <= 0) break;
    const end = Math.min(to, at + status.length);
    if (status.zero) {
      const last = runs.at(-1);
      if (last && last[1] === at) last[1] = end;
      else runs.push([at, end]);
    }
    at = end;
  }
  return runs;
}

/** The parts of `range` not in `ranges` (sorted, non-overlapping). */
function complementWithin(ranges: ReadonlyArray<[number, number]>, [start, end]: [number, number]): Array<[number, number]> {
  return complement(intersect(ranges, [[start, end]]).map(([a, b]) => [a - start, b - start]), end - start).map(([a, b]) => [a + start, b + start]);
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
