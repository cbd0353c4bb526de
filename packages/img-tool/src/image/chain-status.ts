// Allocation status through a backing chain, as qemu's block layer reports it to `compare -s`:
// a set of flags (data, zero, offset valid, allocated, end of file) for the longest run from an
// offset that the image's format reports as one piece: runs of one kind merged, host-contiguous
// where they have a host offset, never across the granularity the format's driver declares
// (BlockFormatDriver.statusGranularity); data without a host offset (compressed) one by one.
import type { BlockNode, BlockStatus } from '@tessera/core';

/** The granularity `node`'s driver reports status runs in (BlockLayer.statusGranularity). */
export type StatusGranularity = (node: BlockNode) => number | undefined;

export interface ChainStatus {
  readonly length: number;
  /** qemu's flags, in a form two statuses can be compared by. */
  readonly flags: string;
}

/** Status of `node` (and, where it has nothing allocated, of its backing chain) from `offset`, at most `length` bytes. */
export async function chainStatus(node: BlockNode, offset: number, length: number, granularity: StatusGranularity): Promise<ChainStatus> {
  let bytes = length;
  for (let layer: BlockNode = node; ; ) {
    const status = await layerStatus(layer, offset, bytes, granularity(layer));
    bytes = status.length;
    const eof = offset + bytes === layer.size;
    if (status.allocated !== false) {
      return { length: bytes, flags: flags({ data: status.data, zero: status.zero, offsetValid: status.offset !== undefined, allocated: true, eof }) };
    }
    const backing = layer.backing;
    if (!backing || offset >= backing.size) {
      // Nothing below: the range reads as zeroes (qemu adds the zero flag to the unallocated status).
      return { length: bytes, flags: flags({ data: false, zero: true, offsetValid: status.offset !== undefined, allocated: false, eof }) };
    }
    bytes = Math.min(bytes, backing.size - offset);
    layer = backing;
  }
}

function flags(f: { data: boolean; zero: boolean; offsetValid: boolean; allocated: boolean; eof: boolean }): string {
  return `${f.data ? 'D' : ''}${f.zero ? 'Z' : ''}${f.offsetValid ? 'O' : ''}${f.allocated ? 'A' : ''}${f.eof ? 'E' : ''}`;
}

/** One layer's status from `offset`, runs of the same kind merged the way the format reports them. */
async function layerStatus(node: BlockNode, offset: number, length: number, reach: number | undefined): Promise<BlockStatus> {
  const first = await statusOf(node, offset, length);
  if (first.data && first.offset === undefined) return first; // compressed: one cluster at a time
  const limit = reach === undefined ? offset + length : Math.min(offset + length, (Math.floor(offset / reach) + 1) * reach);
  let end = offset + first.length;
  while (end < limit) {
    const next = await statusOf(node, end, limit - end);
    const sameKind =
      next.data === first.data &&
      next.zero === first.zero &&
      (next.allocated !== false) === (first.allocated !== false) &&
      (next.offset === undefined) === (first.offset === undefined);
    if (!sameKind) break;
    if (first.offset !== undefined && next.offset !== first.offset + (end - offset)) break;
    if (next.data && next.offset === undefined) break;
    end += next.length;
  }
  return { ...first, length: end - offset };
}

async function statusOf(node: BlockNode, offset: number, length: number): Promise<BlockStatus> {
  return (await node.blockStatus?.(offset, length)) ?? { length, zero: false, data: true, offset, allocated: true };
}
