// Preallocation of guest clusters (create and resize with -o preallocation / --preallocation):
// every unallocated cluster of a range gets an L2 entry and a host cluster, laid out as QEMU lays
// them for `metadata` (each L2 table followed by the clusters it maps). `metadata` leaves the host
// clusters unwritten (the file is only extended over them, sparse); `falloc` and `full` write
// zeroes into them (Node has no fallocate, so `falloc` allocates the blocks the way `full` does).
//
// Order: refcounts (synced by allocate), then the zeroes, sync, then the entries; a new L2 table
// is written and synced before the L1 entry points to it.
import { l2TableOffset } from './cluster/l2-entry.ts';
import { INCOMPAT_DATA_FILE } from './header/features.ts';
import type { Qcow2Image } from './image.ts';
import type { BlockNode } from '@tessera/core';

const COPIED = 1n << 63n;
const ZERO_CHUNK = 2 * 1024 * 1024;

export type PreallocationMode = 'metadata' | 'falloc' | 'full';

export async function preallocate(image: Qcow2Image, from: number, to: number, mode: string): Promise<void> {
  const h = image.header;
  const cs = h.clusterSize;
  const refcounts = image.refcounts!;
  const entrySize = h.extendedL2 ? 16 : 8;
  const l2Entries = cs / entrySize;
  const firstCluster = Math.floor(from / cs);
  const endCluster = Math.ceil(to / cs);
  const external = (h.incompatible & INCOMPAT_DATA_FILE) !== 0n;
  let fileEnd = 0;
  for (let cluster = firstCluster; cluster < endCluster; ) {
    const l1Index = Math.floor(cluster / l2Entries);
    const spanEnd = Math.min(endCluster, (l1Index + 1) * l2Entries);
    let l2Offset = l2TableOffset(image.map.l1[l1Index]!);
    if (l2Offset === 0) {
      [l2Offset] = (await refcounts.allocate(1)) as [number];
      await image.child.write(l2Offset, new Uint8Array(cs));
      await image.child.flush();
      const entry = BigInt(l2Offset) | COPIED;
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigUint64(0, entry);
      await image.child.write(h.l1TableOffset + l1Index * 8, bytes);
      image.map.l1[l1Index] = entry;
      fileEnd = Math.max(fileEnd, l2Offset + cs);
    }
    if ((image.map.l1[l1Index]! & COPIED) === 0n) {
      throw new Error('Preallocating into an L2 table shared with an internal snapshot is not supported');
    }
    const table = await image.map.l2Table(l2Offset);
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const empty: number[] = [];
    const guest: number[] = [];
    for (let c = cluster; c < spanEnd; c++) {
      const at = (c % l2Entries) * entrySize;
      if (view.getBigUint64(at) === 0n && (!h.extendedL2 || view.getBigUint64(at + 8) === 0n)) {
        empty.push(at);
        guest.push(c * cs);
      }
    }
    if (empty.length) {
      // In an external data file a cluster's host offset is its guest offset, and not refcounted.
      const offsets = external ? guest : await refcounts.allocate(empty.length);
      const target = external ? image.dataFile : image.child;
      if (mode !== 'metadata' && target) await writeZeroes(target, offsets, cs);
      await target?.flush();
      // Extended L2: the host cluster is the entry's, its subclusters stay unallocated (as QEMU leaves them).
      empty.forEach((at, i) => view.setBigUint64(at, BigInt(offsets[i]!) | COPIED));
      const low = empty[0]!;
      const high = empty.at(-1)! + entrySize;
      await image.child.write(l2Offset + low, table.subarray(low, high));
      if (!external) fileEnd = Math.max(fileEnd, offsets.at(-1)! + cs);
    }
    cluster = spanEnd;
  }
  await image.child.flush();
  // `metadata`: the file reaches over the clusters it does not write (QEMU sizes it so too).
  if (fileEnd > image.child.size && image.child.resize) await image.child.resize(fileEnd, { shrink: false });
}

/** Zeroes into the clusters at `offsets`, runs of neighbours in large writes. */
async function writeZeroes(file: BlockNode, offsets: readonly number[], cs: number): Promise<void> {
  const zeroes = new Uint8Array(Math.max(cs, ZERO_CHUNK - (ZERO_CHUNK % cs)));
  for (let i = 0; i < offsets.length; ) {
    let j = i + 1;
    while (j < offsets.length && offsets[j] === offsets[j - 1]! + cs && (j - i + 1) * cs <= zeroes.length) j++;
    await file.write(offsets[i]!, zeroes.subarray(0, (j - i) * cs));
    i = j;
  }
}
