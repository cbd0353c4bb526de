// `qemu-img check` for qcow2: count the references every host cluster should have from all
// metadata (header, active and snapshot L1/L2 tables, snapshot table, refcount structure,
// bitmaps), compare them with the stored refcounts, check the COPIED flags, and repair what
// the mode allows. The order of the steps and the messages follow qemu-img's, so that their
// output can be compared line by line.
import type { CheckRepair, CheckResult } from '@tessera/core';
import type { Qcow2State } from '../state.ts';
import { compareRefcounts, type Comparison } from './compare.ts';
import { checkCopiedFlags } from './copied-flags.ts';
import { countBitmaps } from './count-bitmaps.ts';
import { countRefcountBlocks, countSnapshots, snapshotTableBytes } from './count-structures.ts';
import { countL1, type WalkContext } from './count-tables.ts';
import { writeNewRefcountStructure } from '../refcount/rebuild-structure.ts';
import { ReferenceCounts } from './reference-counts.ts';
import { CheckRepairs } from './repair.ts';
import { CheckFailure, CheckTally } from './result.ts';
import { ClusterStatistics } from './statistics.ts';
import { StoredRefcounts } from './stored-refcounts.ts';
import { MetadataOverlapError } from '../overlap/guard.ts';
import { maxRefcount } from '../refcount/entries.ts';

export async function checkImage(image: Qcow2State, repair: CheckRepair): Promise<CheckResult> {
  if (repair !== 'none' && image.readOnly && !image.writesRefused) throw new Error(`${image.filename}: repairing needs the image opened for writing`);
  const tally = new CheckTally();
  // A refused write's report goes among the findings, where qemu-img prints it (they are printed
  // after the check).
  const report = image.report;
  image.report = (message) => void tally.messages.push(message.replace(/\n$/, ''));
  try {
    return await checkPass(image, repair, tally);
  } catch (error) {
    if (error instanceof CheckFailure) throw error;
    if (error instanceof MetadataOverlapError) throw new CheckFailure('Input/output error', tally.messages);
    tally.messages.push(`ERROR ${(error as Error).message}`);
    throw new CheckFailure('Input/output error', tally.messages);
  } finally {
    image.report = report;
  }
}

async function checkPass(image: Qcow2State, repair: CheckRepair, tally: CheckTally): Promise<CheckResult> {
  const repairs = repair === 'none' ? undefined : new CheckRepairs(image);
  const statistics = new ClusterStatistics();
  const counted = await countReferences(image, tally, repair === 'all' ? repairs : undefined, statistics);
  const { references } = counted;
  const order = image.header.refcountOrder;

  const before = tally.snapshot();
  let comparison = await compareRefcounts(references, counted.stored, order, tally, 'none');
  const rebuild = counted.broken || comparison.needsRebuild;
  if (repair === 'all' && rebuild) {
    comparison = await rebuildRefcountStructure(image, references, tally);
  } else if (repair !== 'none') {
    if (rebuild) {
      tally.messages.push('ERROR need to rebuild refcount structures');
      tally.checkErrors++;
      throw new CheckFailure('Input/output error', tally.messages);
    }
    if (tally.leaks || tally.corruptions) {
      tally.restore(before);
      comparison = await compareRefcounts(references, counted.stored, order, tally, repair);
    }
  }
  if (repairs && (comparison.raise.size || comparison.lower.size)) await repairs.setRefcounts(comparison.raise, comparison.lower);

  const fixCopied = repair === 'all' || (repair === 'leaks' && !tally.checkErrors && !tally.corruptions && !tally.leaks);
  const { header, child: file } = image;
  const stored = await StoredRefcounts.read(file, header);
  await checkCopiedFlags(walkContext(image, tally, references, fixCopied ? repairs : undefined), image.map.l1, stored, fixCopied);

  const cs = header.clusterSize;
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

interface Counted {
  readonly references: ReferenceCounts;
  readonly stored: StoredRefcounts;
  /** The refcount structure itself is broken: only a rebuild can fix it. */
  readonly broken: boolean;
}

/**
 * The references every cluster should have, from all metadata, and the stored refcounts to compare
 * them with. With `repairs` (`-r all`), L2 entries are fixed on the way and a refcount block past
 * the end of the file gets the file grown to hold it.
 */
async function countReferences(image: Qcow2State, tally: CheckTally, repairs: CheckRepairs | undefined, statistics: ClusterStatistics): Promise<Counted> {
  const { header, child: file } = image;
  const cs = header.clusterSize;
  const references = new ReferenceCounts(cs, file.size, maxRefcount(header.refcountOrder), tally);
  const context = walkContext(image, tally, references, repairs);
  references.add(0n, cs);
  await countL1(context, header.l1TableOffset, header.l1Size, statistics);
  await countSnapshots(context, image.snapshots);
  references.add(BigInt(header.snapshotsOffset), await snapshotTableBytes(file, header));
  references.add(BigInt(header.refcountTableOffset), header.refcountTableClusters * cs);
  // The LUKS header's clusters (the open checked its place).
  const encryption = header.extensions.encryption;
  if (encryption) references.add(encryption.offset, Number(encryption.size));
  await countBitmaps(context);
  const stored = await StoredRefcounts.read(file, header);
  const growFile = repairs && file.resize ? (size: number) => file.resize!(size, { shrink: false }) : undefined;
  const broken = await countRefcountBlocks(context, stored, growFile);
  return { references, stored, broken };
}

function walkContext(image: Qcow2State, tally: CheckTally, references: ReferenceCounts, repairs: CheckRepairs | undefined): WalkContext {
  return { file: image.child, header: image.header, hasDataFile: image.header.extensions.dataFile !== undefined, tally, references, repairs };
}

/**
 * `-r all` where the stored refcounts cannot be repaired in place (a referenced cluster counted 0,
 * a broken block or table entry): a new refcount structure from the counted references, then
 * everything counted again against it, and the old structure (now unreferenced) freed. The
 * messages and the fixed counts follow qemu-img's: what the rebuild fixed counts as fixed, and
 * leaks the rebuild itself left are reported.
 */
async function rebuildRefcountStructure(image: Qcow2State, references: ReferenceCounts, tally: CheckTally): Promise<Comparison> {
  tally.messages.push('Rebuilding refcount structure');
  const old = { corruptions: tally.corruptions, leaks: tally.leaks };
  // The new structure goes to clusters nothing counted references: it may land on no metadata but
  // the old refcount blocks it replaces (one whose table entry is invalid is counted as a leak;
  // qemu-img's check refuses to write there, and cannot repair such an image).
  const replaced = (offset: number, bytes: Uint8Array) => image.overlap.write(offset, bytes, { kind: 'refcount block', offset, length: bytes.length });
  const table = await writeNewRefcountStructure(image.child, image.header, references, replaced);
  await image.adoptRefcountTable(table.offset, table.clusters);

  tally.corruptions = 0;
  tally.leaks = 0;
  const counted = await countReferences(image, tally, undefined, new ClusterStatistics());
  // The old structure's clusters are leaks now: freed, and not counted as fixed.
  const scratch = new CheckTally();
  const comparison = await compareRefcounts(counted.references, counted.stored, image.header.refcountOrder, scratch, 'leaks');
  tally.messages.push(...scratch.messages);
  if (counted.broken || comparison.needsRebuild) tally.messages.push('ERROR rebuilt refcount structure is still broken');
  if (tally.corruptions < old.corruptions) tally.corruptionsFixed += old.corruptions - tally.corruptions;
  if (tally.leaks < old.leaks) tally.leaksFixed += old.leaks - tally.leaks;
  tally.leaks += scratch.leaks;
  return comparison;
}
