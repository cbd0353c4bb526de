// Counting the references of one L1 table and its L2 tables (the active one, or a snapshot's),
// with the entry checks qemu-img makes on the way and their messages.
import type { BlockNode } from '@tessera/core';
import type { Qcow2Header } from '../header/header.ts';
import { readHost } from '../host-read.ts';
import type { ReferenceCounts } from './reference-counts.ts';
import type { CheckRepairs } from './repair.ts';
import { type CheckTally, hex } from './result.ts';
import type { ClusterStatistics } from './statistics.ts';
import {
  ALL_ALLOCATED, L1E_OFFSET_MASK, L1E_RESERVED_MASK, L2E_OFFSET_MASK, OFLAG_COPIED as COPIED, OFLAG_ZERO as ZERO, clusterType, decodeCompressed, l2EntrySize,
} from '../layout.ts';

export interface WalkContext {
  readonly file: BlockNode;
  readonly header: Qcow2Header;
  readonly hasDataFile: boolean;
  readonly tally: CheckTally;
  readonly references: ReferenceCounts;
  /** Repairs of L2 entries that can be fixed on the spot (`all` only). */
  readonly repairs: CheckRepairs | undefined;
}

/** Count an L1 table, its L2 tables and their clusters; `statistics` only for the active table. */
export async function countL1(context: WalkContext, l1Offset: number, l1Size: number, statistics: ClusterStatistics | undefined): Promise<void> {
  const { header, tally, references } = context;
  references.add(BigInt(l1Offset), l1Size * 8);
  const bytes = new Uint8Array(l1Size * 8);
  await readHost(context.file, l1Offset, bytes);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < l1Size; i++) {
    const entry = view.getBigUint64(i * 8);
    if (entry === 0n) continue;
    if (entry & L1E_RESERVED_MASK) tally.corrupt(`ERROR found L1 entry with reserved bits set: ${hex(entry)}`);
    const l2Offset = entry & L1E_OFFSET_MASK;
    references.add(l2Offset, header.clusterSize);
    if (l2Offset % BigInt(header.clusterSize) !== 0n) {
      tally.corrupt(`ERROR l2_offset=${hex(l2Offset)}: Table is not cluster aligned; L1 entry corrupted`);
    }
    await countL2(context, Number(l2Offset), statistics);
  }
}

async function countL2(context: WalkContext, l2Offset: number, statistics: ClusterStatistics | undefined): Promise<void> {
  const { header, tally, references, hasDataFile } = context;
  const cs = header.clusterSize;
  const entrySize = l2EntrySize(header.extendedL2);
  const table = new Uint8Array(cs);
  await readHost(context.file, l2Offset, table);
  const view = new DataView(table.buffer);
  statistics?.startTable();
  for (let i = 0; i < cs / entrySize; i++) {
    let entry = view.getBigUint64(i * entrySize);
    const bitmap = header.extendedL2 ? view.getBigUint64(i * entrySize + 8) : 0n;
    switch (clusterType(entry, header.extendedL2, hasDataFile)) {
      case 'compressed': {
        if (entry & COPIED) {
          tally.corrupt(`ERROR: coffset=0x${hex(decodeCompressed(entry, header.clusterBits).host)}: copied flag must never be set for compressed clusters`);
          entry &= ~COPIED;
        }
        if (hasDataFile) {
          tally.corrupt(`ERROR compressed cluster ${i} with data file, entry=0x${hex(entry)}`);
          break;
        }
        if (bitmap !== 0n) {
          tally.corrupt(`ERROR compressed cluster ${i} with non-zero subcluster allocation bitmap, entry=0x${hex(entry)}`);
          break;
        }
        const { host: hostOffset, sectors } = decodeCompressed(entry, header.clusterBits);
        references.add(hostOffset, sectors * 512 - Number(hostOffset % 512n));
        statistics?.compressedCluster();
        break;
      }
      case 'zero-allocated':
      case 'normal': {
        const offset = entry & L2E_OFFSET_MASK;
        if ((bitmap >> 32n) & bitmap) {
          tally.corrupt(`ERROR offset=${hex(offset)}: Allocated cluster has corrupted subcluster allocation bitmap`);
        }
        if (offset % BigInt(cs) !== 0n) {
          const containsData = header.extendedL2 ? (bitmap & ALL_ALLOCATED) !== 0n : (entry & ZERO) === 0n;
          if (!containsData) {
            // Nothing to lose: the entry becomes a plain zero cluster.
            const repairs = context.repairs;
            tally.corrupt(`${repairs ? 'Repairing' : 'ERROR'} offset=${hex(offset)}: Preallocated cluster is not properly aligned; L2 entry corrupted.`);
            if (repairs) {
              await repairs.setL2Entry(l2Offset, i, header.extendedL2 ? 0n : ZERO);
              tally.corruptions--;
              tally.corruptionsFixed++;
              continue;
            }
          } else {
            tally.corrupt(`ERROR offset=${hex(offset)}: Data cluster is not properly aligned; L2 entry corrupted.`);
          }
        }
        statistics?.data(Number(offset), cs);
        if (!hasDataFile) references.add(offset, cs);
        break;
      }
      case 'zero-plain':
        break;
      case 'unallocated':
        if (bitmap & ALL_ALLOCATED) tally.corrupt('ERROR: Unallocated cluster has non-zero subcluster allocation map');
        break;
    }
  }
}
