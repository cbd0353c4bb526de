// The COPIED flag of every active L1 and L2 entry must say whether the cluster's refcount is
// exactly 1 (QEMU writes in place only where it is set). Checked against the stored refcounts,
// after any refcount repair.
import { readHost } from '../host-read.ts';
import { L1E_OFFSET_MASK, L2E_OFFSET_MASK, OFLAG_COPIED as COPIED, clusterType, l2EntrySize } from '../layout.ts';
import type { WalkContext } from './count-tables.ts';
import { hex } from './result.ts';
import { UnreadableRefcount, type StoredRefcounts } from './stored-refcounts.ts';

export async function checkCopiedFlags(context: WalkContext, l1: BigUint64Array, stored: StoredRefcounts, repair: boolean): Promise<void> {
  const { header, tally, file } = context;
  const cs = header.clusterSize;
  const entrySize = l2EntrySize(header.extendedL2);
  const refcountOf = async (offset: bigint): Promise<bigint | undefined> => {
    try {
      return await stored.get(Number(offset / BigInt(cs)));
    } catch (error) {
      if (error instanceof UnreadableRefcount) return undefined; // reported by the comparison already
      throw error;
    }
  };
  const table = new Uint8Array(cs);
  const view = new DataView(table.buffer);
  for (let i = 0; i < l1.length; i++) {
    const l1Entry = l1[i]!;
    const l2Offset = l1Entry & L1E_OFFSET_MASK;
    if (l2Offset === 0n) continue;
    const refcount = await refcountOf(l2Offset);
    if (refcount === undefined) continue;
    if ((refcount === 1n) !== ((l1Entry & COPIED) !== 0n)) {
      tally.corrupt(`${repair ? 'Repairing' : 'ERROR'} OFLAG_COPIED L2 cluster: l1_index=${i} l1_entry=${hex(l1Entry)} refcount=${refcount}`);
      if (repair && context.repairs) {
        await context.repairs.setL1Entry(i, refcount === 1n ? l1Entry | COPIED : l1Entry & ~COPIED);
        tally.corruptions--;
        tally.corruptionsFixed++;
      }
    }
    await readHost(file, Number(l2Offset), table);
    for (let j = 0; j < cs / entrySize; j++) {
      const entry = view.getBigUint64(j * entrySize);
      const type = clusterType(entry, header.extendedL2, context.hasDataFile);
      if (type !== 'normal' && type !== 'zero-allocated') continue;
      const refcount = context.hasDataFile ? 1n : await refcountOf(entry & L2E_OFFSET_MASK);
      if (refcount === undefined) continue;
      if ((refcount === 1n) === ((entry & COPIED) !== 0n)) continue;
      tally.corrupt(`${repair ? 'Repairing' : 'ERROR'} OFLAG_COPIED data cluster: l2_entry=${hex(entry)} refcount=${refcount}`);
      if (repair && context.repairs) {
        await context.repairs.setL2Entry(Number(l2Offset), j, refcount === 1n ? entry | COPIED : entry & ~COPIED);
        tally.corruptions--;
        tally.corruptionsFixed++;
      }
    }
  }
}
