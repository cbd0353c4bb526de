// What the export's bytes are, run by run, through the backing chain: the answer to both block
// status contexts (base:allocation, qemu:allocation-depth) and to where a structured read may send
// a hole instead of bytes. As qemu's bdrv_block_status_above: the first layer that holds the range
// (data or recorded zeroes) decides; a range no layer holds reads as zeroes.
import type { BlockNode, BlockStatus } from '@tessera/core';

export interface AllocationRun {
  /** Bytes from the queried offset with this status (at least 1, at most the query). */
  readonly length: number;
  /** The run reads as zeroes. */
  readonly zero: boolean;
  /** The run holds data (not a hole) in the layer that decides it. */
  readonly data: boolean;
  /** Which layer holds it: 1 the exported image, 2 its backing file, …; 0 no layer (qemu:allocation-depth). */
  readonly depth: number;
}

/** The status of `node` alone from `offset`: all data when its driver cannot tell (as qemu assumes). */
async function layerStatus(node: BlockNode, offset: number, length: number): Promise<BlockStatus> {
  return (await node.blockStatus?.(offset, length)) ?? { length, zero: false, data: true, allocated: true };
}

/** The run of `image` starting at `offset`, at most `length` bytes (which must stay inside the image). */
export async function allocationAt(image: BlockNode, offset: number, length: number): Promise<AllocationRun> {
  let bytes = length;
  let depth = 1;
  for (let layer: BlockNode = image; ; depth++) {
    const status = await layerStatus(layer, offset, bytes);
    bytes = Math.max(1, Math.min(bytes, status.length));
    if (status.allocated !== false) return { length: bytes, zero: status.zero, data: status.data, depth };
    const backing = layer.backing;
    if (!backing || offset >= backing.size) return { length: bytes, zero: true, data: false, depth: 0 };
    bytes = Math.min(bytes, backing.size - offset);
    layer = backing;
  }
}

/**
 * The runs covering [offset, offset + length), neighbours of the same `key` merged, at most
 * `maxRuns` of them (the last may then end before the range does).
 */
export async function allocationRuns(
  image: BlockNode,
  offset: number,
  length: number,
  key: (run: AllocationRun) => number,
  maxRuns: number,
): Promise<Array<{ length: number; flags: number }>> {
  const runs: Array<{ length: number; flags: number }> = [];
  const end = offset + length;
  for (let at = offset; at < end; ) {
    const run = await allocationAt(image, at, end - at);
    const flags = key(run);
    const last = runs[runs.length - 1];
    if (last && last.flags === flags) last.length += run.length;
    else if (runs.length === maxRuns) break;
    else runs.push({ length: run.length, flags });
    at += run.length;
  }
  return runs;
}
