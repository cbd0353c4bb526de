import type { BlockNode } from '@tessera/core';

/** One row of `map`: a run of the image whose bytes are stored the same way. */
export interface MapEntry {
  start: number;
  length: number;
  /** How many backing files down the bytes are found (0: the image itself). */
  depth: number;
  /** Allocated at that depth (rather than reading as zeroes for want of any allocation). */
  present: boolean;
  zero: boolean;
  data: boolean;
  offset?: number;
  /** The file holding the bytes, when `offset` is known. */
  file?: string;
}

/**
 * The status of [start, start + length) down the backing chain: descend while a layer neither
 * holds data nor records zeroes, as qemu-img's map does.
 */
export async function mapEntryAt(image: BlockNode, start: number, length: number): Promise<MapEntry> {
  let node: BlockNode = image;
  let depth = 0;
  for (;;) {
    const status = (await node.blockStatus?.(start, Math.min(length, node.size - start))) ?? {
      length: Math.min(length, node.size - start),
      zero: false,
      data: true,
      allocated: true,
    };
    length = status.length;
    const next: BlockNode | undefined = node.backing;
    if (next && !status.zero && !status.data && start >= next.size) {
      // Past the end of a shorter backing file: this layer reads as zeroes there.
      return { start, length, depth, present: false, zero: true, data: false };
    }
    if (status.zero || status.data || !next) {
      return {
        start,
        length,
        depth,
        present: status.allocated ?? (status.zero || status.data),
        zero: status.zero,
        data: status.data,
        ...(status.offset !== undefined ? { offset: status.offset } : {}),
        ...(status.offset !== undefined && status.file !== undefined ? { file: status.file } : {}),
      };
    }
    node = next;
    depth++;
  }
}

/** Whether `next` continues `current` as one row (same status, contiguous in the same file). */
export function mergeable(current: MapEntry, next: MapEntry): boolean {
  if (current.length === 0) return false;
  if (current.zero !== next.zero || current.data !== next.data || current.depth !== next.depth) return false;
  if (current.present !== next.present || (current.file === undefined) !== (next.file === undefined)) return false;
  if (current.file !== undefined && current.file !== next.file) return false;
  if ((current.offset === undefined) !== (next.offset === undefined)) return false;
  return current.offset === undefined || current.offset + current.length === next.offset;
}

/** The map of [start, end), merged into rows; each row is handed to `emit` with the row after it. */
export async function walkMap(
  image: BlockNode,
  start: number,
  end: number,
  emit: (entry: MapEntry, next: MapEntry | undefined) => void,
): Promise<void> {
  const PROBE = 2 ** 30; // at most 1 GiB per status query
  let current: MapEntry = { start, length: 0, depth: 0, present: false, zero: false, data: false };
  while (current.start + current.length < end) {
    const at = current.start + current.length;
    const next = await mapEntryAt(image, at, Math.min(PROBE, end - at));
    if (mergeable(current, next)) {
      current.length += next.length;
      continue;
    }
    if (current.length > 0) emit(current, next);
    current = next;
  }
  emit(current, undefined);
}
