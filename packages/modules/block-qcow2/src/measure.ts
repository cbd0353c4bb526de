// qemu-img measure for qcow2: the bytes a new image needs. "Fully allocated" is every cluster of
// the virtual size plus all the metadata that would map it (header, L2 tables, L1 table, refcount
// blocks and table, each rounded as QEMU rounds them); "required" keeps that metadata but counts
// only the data clusters the source holds (none without a source; all of them when preallocating
// falloc/full).
import type { BlockNode, MeasureResult } from '@tessera/core';
import { createSettings } from './create.ts';
import { MAX_L1_BYTES } from './limits.ts';
import { l1EntriesFor, l2EntrySize } from './layout.ts';
import { entriesPerBlock } from './refcount/entries.ts';
import { measureEncryptionHeader } from './encryption/create.ts';

export async function measureImage(size: number, options: Readonly<Record<string, string>>, source?: BlockNode): Promise<MeasureResult> {
  let settings;
  try {
    settings = createSettings(options);
  } catch (error) {
    // measure names the option as `-o` spells it, not as create's blockdev options do.
    const message = (error as Error).message
      .replace('(use version=v3 or greater)', '(use compat=1.1 or greater)')
      .replace(/^Parameter 'preallocation' does not accept value '(.*)'$/s, 'invalid parameter value: $1');
    throw new Error(message, { cause: error });
  }
  const clusterSize = 2 ** settings.clusterBits;
  const virtualSize = roundUp(source ? source.size : size, clusterSize);
  if (l1EntriesFor(virtualSize, clusterSize, settings.extendedL2) * 8 > MAX_L1_BYTES) {
    throw new Error('The image size is too large (try using a larger cluster size)');
  }
  // A LUKS header's clusters, as qemu adds them (to both sizes, outside the refcount arithmetic).
  const encryption = roundUp(await measureEncryptionHeader(options), clusterSize);
  const fullyAllocated = metadataSize(virtualSize, clusterSize, settings.refcountOrder, settings.extendedL2) + virtualSize + encryption;
  const preallocated = settings.preallocation === 'falloc' || settings.preallocation === 'full';
  const data = preallocated ? virtualSize : source ? await allocatedData(source, clusterSize) : 0;
  // qemu reports the space the source's persistent bitmaps would take when both images can hold
  // them (qcow2 v3 over qcow2): each bitmap's data wholly allocated, its table, and the directory.
  const bitmaps = source?.driver === 'qcow2' && settings.version === 3 ? { bitmaps: bitmapsSize(source, clusterSize) } : {};
  return { required: fullyAllocated - virtualSize + data, fullyAllocated, ...bitmaps };
}

/** qemu's qcow2_measure of the source's bitmaps, in the target's clusters (from the source's `info` list). */
function bitmapsSize(source: BlockNode, clusterSize: number): number {
  const listed = (source.describe?.().formatSpecific?.data.bitmaps ?? []) as readonly { name: string; granularity: number }[];
  if (!listed.length) return 0;
  let size = 0;
  let directory = 0;
  for (const { name, granularity } of listed) {
    const clusters = Math.ceil(Math.ceil(Math.ceil(source.size / granularity) / 8) / clusterSize);
    size += clusters * clusterSize + roundUp(clusters * 8, clusterSize);
    directory += roundUp(24 + new TextEncoder().encode(name).length, 8);
  }
  return size + roundUp(directory, clusterSize);
}

function roundUp(value: number, to: number): number {
  return Math.ceil(value / to) * to;
}

/** Header, L2 and L1 tables (whole clusters of entries) and the refcount structures counting everything. */
function metadataSize(alignedSize: number, clusterSize: number, refcountOrder: number, extendedL2: boolean): number {
  const entrySize = l2EntrySize(extendedL2);
  let meta = clusterSize; // header
  const l2Entries = roundUp(alignedSize / clusterSize, clusterSize / entrySize);
  meta += l2Entries * entrySize;
  const l1Entries = roundUp((l2Entries * entrySize) / clusterSize, clusterSize / 8);
  meta += l1Entries * 8;
  return meta + refcountMetadataSize((meta + alignedSize) / clusterSize, clusterSize, refcountOrder);
}

/** Refcount blocks and table clusters for `clusters` clusters plus themselves (a fixed point). */
function refcountMetadataSize(clusters: number, clusterSize: number, refcountOrder: number): number {
  const perBlock = entriesPerBlock(clusterSize, refcountOrder);
  const blocksPerTableCluster = clusterSize / 8;
  let blocks = 0;
  let table = 0;
  for (;;) {
    const nextBlocks = Math.ceil((clusters + table + blocks) / perBlock);
    const nextTable = Math.ceil(nextBlocks / blocksPerTableCluster);
    if (nextBlocks === blocks && nextTable === table) break;
    blocks = nextBlocks;
    table = nextTable;
  }
  return (blocks + table) * clusterSize;
}

/**
 * Bytes of whole clusters (of the new image) that hold data in the source, its backing chain
 * included; ranges that read as zeroes do not count. A raw file's holes are zeroes (its file
 * node finds them with SEEK_DATA/SEEK_HOLE); its written bytes are data, zeroes or not, as qemu
 * counts them.
 */
async function allocatedData(source: BlockNode, clusterSize: number): Promise<number> {
  const clusters = new Set<number>();
  await collectData(source, 0, source.size, clusterSize, clusters);
  return clusters.size * clusterSize;
}

async function collectData(node: BlockNode, from: number, to: number, clusterSize: number, clusters: Set<number>): Promise<void> {
  const mark = (start: number, end: number) => {
    for (let c = Math.floor(start / clusterSize); c * clusterSize < end; c++) clusters.add(c);
  };
  if (!node.blockStatus) {
    await collectNonZero(node, from, to, clusterSize, clusters);
    return;
  }
  for (let at = from; at < to; ) {
    const status = await node.blockStatus(at, to - at);
    const end = at + status.length;
    if (status.zero) {
      // reads as zeroes: nothing to store
    } else if (status.data) {
      mark(at, end);
    } else if (node.backing) {
      const backingEnd = Math.min(end, node.backing.size);
      if (backingEnd > at) await collectData(node.backing, at, backingEnd, clusterSize, clusters);
    }
    at = end;
  }
}

const SCAN_CHUNK = 1024 * 1024;

async function collectNonZero(node: BlockNode, from: number, to: number, clusterSize: number, clusters: Set<number>): Promise<void> {
  const buffer = new Uint8Array(Math.max(SCAN_CHUNK - (SCAN_CHUNK % clusterSize), clusterSize));
  // Whole clusters around [from, to), but no further: what lies beyond is another extent's.
  const end = Math.min(node.size, Math.ceil(to / clusterSize) * clusterSize);
  for (let at = from - (from % clusterSize); at < to; at += buffer.length) {
    const length = Math.min(buffer.length, end - at);
    if (length <= 0) break;
    const part = buffer.subarray(0, length);
    await node.read(at, part);
    for (let offset = 0; offset < length; offset += clusterSize) {
      const cluster = part.subarray(offset, Math.min(length, offset + clusterSize));
      if (cluster.some((byte) => byte !== 0)) clusters.add((at + offset) / clusterSize);
    }
  }
}
