// qemu-img check for QED: every table and data offset valid (invalid ones are corruptions, cleared
// when repairing), clusters of the file nobody uses are leaks, and qemu's allocation statistics.
import type { BlockNode, CheckResult } from '@tessera/core';
import { UNALLOCATED, ZERO_CLUSTER, clusterOffsetValid, decodeTable, encodeEntries, tableBytes, tableFits } from './layout.ts';
import type { Tables } from './tables.ts';

export async function checkQed(file: BlockNode, tables: Tables, repair: boolean): Promise<CheckResult> {
  const h = tables.header;
  const cs = h.clusterSize;
  const clusters = Math.floor(file.size / cs);
  const used = new Uint8Array(clusters);
  const mark = (offset: number, count: number) => used.fill(1, Math.floor(offset / cs), Math.min(clusters, Math.floor(offset / cs) + count));
  mark(0, h.headerSize);
  mark(h.l1TableOffset, h.tableSize);
  let corruptions = 0;
  let fixed = 0;
  let allocated = 0;
  let fragmented = 0;
  const messages: string[] = [];
  for (let i = 0; i < tables.l1.length; i++) {
    const l2Offset = tables.l1[i]!;
    if (l2Offset === UNALLOCATED) continue;
    if (!tableFits(h, l2Offset, file.size)) {
      corruptions++;
      if (repair) {
        tables.l1[i] = UNALLOCATED;
        await file.write(h.l1TableOffset + i * 8, encodeEntries([UNALLOCATED]));
        fixed++;
      }
      continue;
    }
    mark(l2Offset, h.tableSize);
    const bytes = new Uint8Array(tableBytes(h));
    await file.read(l2Offset, bytes);
    const table = decodeTable(bytes);
    let last = 0;
    for (let j = 0; j < table.length; j++) {
      const entry = table[j]!;
      // Zero clusters count as unallocated in qemu's statistics.
      if (entry === UNALLOCATED || entry === ZERO_CLUSTER) continue;
      allocated++;
      if (last !== 0 && last + cs !== entry) fragmented++;
      last = entry;
      if (!clusterOffsetValid(h, entry, file.size)) {
        corruptions++;
        if (repair) {
          await file.write(l2Offset + j * 8, encodeEntries([UNALLOCATED]));
          tables.forget(l2Offset);
          fixed++;
        }
        continue;
      }
      mark(entry, 1);
    }
  }
  let leaks = 0;
  for (let c = h.headerSize; c < clusters; c++) if (!used[c]) leaks++;
  return {
    corruptions: corruptions - fixed,
    leaks,
    checkErrors: 0,
    corruptionsFixed: fixed,
    leaksFixed: 0,
    totalClusters: Math.ceil(h.imageSize / cs),
    allocatedClusters: allocated,
    fragmentedClusters: fragmented,
    messages,
  };
}
