// `qemu-img check` for qcow2: count the references every host cluster should have from all
// metadata (header, active and snapshot L1/L2 tables, snapshot table, refcount structure,
// bitmaps), compare them with the stored refcounts, check the COPIED flags, and repair what
// the mode allows. The order of the steps and the messages follow qemu-img's, so that their
// output can be compared line by line.
import type { CheckRepair, CheckResult } from '@tessera/core';
import type { Qcow2Image } from '../image.ts';
import { compareRefcounts } from './compare.ts';
import { checkCopiedFlags } from './copied-flags.ts';
import { countBitmaps } from './count-bitmaps.ts';
import { countRefcountBlocks, countSnapshots, snapshotTableBytes } from './count-structures.ts';
import { countL1, type WalkContext } from './count-tables.ts';
import { ReferenceCounts } from './reference-counts.ts';
import { CheckRepairs } from './repair.ts';
import { CheckFailure, CheckTally } from './result.ts';
import { ClusterStatistics } from './statistics.ts';
import { StoredRefcounts } from './stored-refcounts.ts';

export async function checkImage(image: Qcow2Image, repair: CheckRepair): Promise<CheckResult> {
  if (repair !== 'none' && image.readOnly && !image.writesRefused) throw new Error(`${image.filename}: repairing needs the image opened for writing`);
  const tally = new CheckTally();
  try {
    return await checkPass(image, repair, tally);
  } catch (error) {
    if (error instanceof CheckFailure) throw error;
    tally.messages.push(`ERROR ${(error as Error).message}`);
    throw new CheckFailure('Input/output error', tally.messages);
  }
}

async function checkPass(image: Qcow2Image, repair: CheckRepair, tally: CheckTally): Promise<CheckResult> {
  const { header, child: file } = image;
  const cs = header.clusterSize;
  const references = new ReferenceCounts(cs, file.size, (1n << (1n << BigInt(header.refcountOrder))) - 1n, tally);
  const repairs = repair === 'none' ? undefined : new CheckRepairs(image);
  const context: WalkContext = {
    file,
    header,
    hasDataFile: header.extensions.dataFile !== undefined,
    tally,
    references,
    repairs: repair === 'all' ? repairs : undefined,
  };
  const statistics = new ClusterStatistics();

  references.add(0n, cs);
  await countL1(context, header.l1TableOffset, header.l1Size, statistics);
  await countSnapshots(context, image.snapshots);
  references.add(BigInt(header.snapshotsOffset), await snapshotTableBytes(file, header));
  references.add(BigInt(header.refcountTableOffset), header.refcountTableClusters * cs);
  await countBitmaps(context);
  let stored = await StoredRefcounts.read(file, header);
  const structureBroken = countRefcountBlocks(context, stored);

  const before = tally.snapshot();
  let comparison = await compareRefcounts(references, stored, header.refcountOrder, tally, 'none');
  const rebuild = structureBroken || comparison.needsRebuild;
  if (repair !== 'none' && rebuild) {
    if (repair === 'leaks' || structureBroken) {
      // QEMU rebuilds the whole refcount structure here (with -r all); we only set refcounts in place.
      tally.messages.push(repair === 'leaks' ? 'ERROR need to rebuild refcount structures' : 'ERROR the refcount structure is broken; rebuilding it is not supported (copy the image with convert)');
      tally.checkErrors++;
      throw new CheckFailure(repair === 'leaks' ? 'Input/output error' : 'Operation not supported', tally.messages);
    }
    // Referenced clusters with refcount 0: every refcount is set to what is referenced.
    tally.restore(before);
    comparison = await compareRefcounts(references, stored, header.refcountOrder, tally, repair, true);
  } else if (repair !== 'none' && (tally.leaks || tally.corruptions)) {
    tally.restore(before);
    comparison = await compareRefcounts(references, stored, header.refcountOrder, tally, repair);
  }
  if (repairs && (comparison.raise.size || comparison.lower.size)) {
    await repairs.setRefcounts(comparison.raise, comparison.lower);
    stored = await StoredRefcounts.read(file, header);
  }

  const fixCopied = repair === 'all' || (repair === 'leaks' && !tally.checkErrors && !tally.corruptions && !tally.leaks);
  await checkCopiedFlags({ ...context, repairs: fixCopied ? repairs : undefined }, image.map.l1, stored, fixCopied);

  return {
    corruptions: tally.corruptions,
    leaks: tally.leaks,
    checkErrors: tally.checkErrors,
    corruptionsFixed: tally.corruptionsFixed,
    leaksFixed: tally.leaksFixed,
    imageEndOffset: (comparison.highestCluster + 1) * cs,
    totalClusters: Math.ceil((Math.ceil(header.size / 512) * 512) / cs),
    allocatedClusters: statistics.allocated,
    fragmentedClusters: statistics.fragmented,
    compressedClusters: statistics.compressed,
    messages: tally.messages,
  };
}
