// A new refcount structure (blocks and table) written from counted references, for `check -r all`
// when the stored one cannot be trusted or repaired in place. Placed as qemu-img places it, so a
// repaired image has the same layout as one qemu-img repaired: each refcount block in the first
// free cluster at or after the start of the range it describes (so it never lands in a range whose
// block is already written), the table in the lowest free run of clusters; a new block or table
// cluster is itself counted, and the blocks covering it are written again.
//
// Crash safety: everything new goes to clusters nothing references; it is synced before one
// header write switches to it (offset and size together, in one sector), and synced again. The
// old structure is left as it is: until the switch it stays the image's, afterwards it is a leak.
import type { BlockNode } from '@tessera/core';
import type { Qcow2Header } from '../header/header.ts';
import { writeRefcountTablePlace } from '../header/refcount-table-place.ts';
import { MAX_REFCOUNT_TABLE_BYTES } from '../limits.ts';
import { NARROWEST_WIDE_ORDER, entriesPerBlock, setRefcount, storeRefcount } from './entries.ts';

/** The references counted for every cluster, with room to count the new structure's clusters. */
export interface CountedClusters {
  /** Clusters counted; those past the last are free. */
  readonly clusters: number;
  get(cluster: number): number;
  /** Count a free cluster as used once (by the new structure). */
  claim(cluster: number): void;
}

export interface NewRefcountTable {
  readonly offset: number;
  readonly clusters: number;
}

/** `write`: a write to the image file through the overlap guard. */
export async function writeNewRefcountStructure(
  file: BlockNode,
  header: Qcow2Header,
  counted: CountedClusters,
  write: (offset: number, bytes: Uint8Array) => Promise<void>,
): Promise<NewRefcountTable> {
  const cs = header.clusterSize;
  const order = header.refcountOrder;
  const perBlock = entriesPerBlock(cs, order);
  /** Block offsets by table index; its length is always whole clusters of entries. */
  let table: number[] = [];

  /** The lowest run of `count` free clusters at or after `from`, claimed. */
  const allocate = (count: number, from: number): number => {
    let start = from;
    let run = 0;
    for (let cluster = from; run < count; cluster++) {
      if (cluster < counted.clusters && counted.get(cluster) !== 0) {
        run = 0;
        start = cluster + 1;
      } else run++;
    }
    for (let i = 0; i < count; i++) counted.claim(start + i);
    return start;
  };

  /**
   * Write the block of every range in `[first, end)` holding a used cluster, allocating the blocks
   * not placed yet. Returns whether the table had to grow.
   */
  const writeBlocks = async (first: number, end: number): Promise<boolean> => {
    let grown = false;
    let firstFree = 0;
    for (let cluster = first; cluster < end; cluster++) {
      if (counted.get(cluster) === 0) continue;
      const index = Math.floor(cluster / perBlock);
      const start = index * perBlock;
      let offset = table[index] ?? 0;
      if (offset === 0) {
        // Not in a range whose block is written already: that block would miss the claim.
        firstFree = Math.max(firstFree, start);
        const blockCluster = allocate(1, firstFree);
        firstFree = blockCluster + 1;
        if (blockCluster >= end) end = blockCluster + 1; // the block that counts it is written too
        if (index >= table.length) {
          const entries = Math.ceil(((index + 1) * 8) / cs) * (cs / 8);
          if (entries * 8 > MAX_REFCOUNT_TABLE_BYTES) throw new Error(`${file.filename}: the rebuilt refcount table would exceed ${MAX_REFCOUNT_TABLE_BYTES} bytes`);
          table = [...table, ...new Array<number>(entries - table.length).fill(0)];
          grown = true;
        }
        offset = blockCluster * cs;
        table[index] = offset;
      }
      await write(offset, blockOf(counted, start, perBlock, cs, order));
      cluster = start + perBlock - 1; // the rest of this range is in the block just written
    }
    return grown;
  };

  await writeBlocks(0, counted.clusters);
  let tableCluster = 0;
  let tableClusters = 0;
  let grown: boolean;
  // Placing the table may need new blocks, which may grow the table: then place it anew (the
  // clusters of the first place are left counted, a leak the check then frees, as qemu-img does).
  do {
    tableClusters = (table.length * 8) / cs;
    tableCluster = allocate(tableClusters, 0);
    grown = await writeBlocks(tableCluster, tableCluster + tableClusters);
  } while (grown);

  const bytes = new Uint8Array(table.length * 8);
  const view = new DataView(bytes.buffer);
  table.forEach((offset, i) => view.setBigUint64(i * 8, BigInt(offset)));
  await write(tableCluster * cs, bytes);
  await file.flush();
  await writeRefcountTablePlace(file, tableCluster * cs, tableClusters);
  return { offset: tableCluster * cs, clusters: tableClusters };
}

/** The refcount block for clusters `[start, start + perBlock)`, from the counts. */
function blockOf(counted: CountedClusters, start: number, perBlock: number, cs: number, order: number): Uint8Array {
  const block = new Uint8Array(cs);
  const end = Math.min(counted.clusters, start + perBlock);
  for (let cluster = start; cluster < end; cluster++) {
    const count = counted.get(cluster);
    if (count === 0) continue;
    if (order < NARROWEST_WIDE_ORDER) storeRefcount(block, cluster - start, order, count);
    else setRefcount(block, cluster - start, order, BigInt(count));
  }
  return block;
}
