// `qemu-img bitmap`'s operations on the bitmap directory, each stored at once as QEMU stores
// bitmaps: new tables and a new directory in freshly allocated clusters, synced, then the header
// pointed at them (one write of the first cluster), then the old clusters freed. A crash leaves
// either the old bitmaps or the new ones, and at worst leaked clusters.
import type { BitmapOperation } from '@tessera/core';
import { codedError } from '../errors.ts';
import { parseHeader } from '../header/header.ts';
import { readFirstCluster } from '../header/first-cluster.ts';
import { readHost } from '../host-read.ts';
import { BME_OFFSET_MASK } from '../layout.ts';
import type { Qcow2State } from '../state.ts';
import { BITMAP_AUTO, MAX_BITMAPS, MAX_GRANULARITY_BITS, MAX_NAME_SIZE, encodeBitmapDirectory, tableSizeFor, type Bitmap } from './directory.ts';
import { withBitmapsExtension } from './header-extension.ts';
import type { BitmapsState } from './load.ts';

export type Image = Qcow2State & { bitmaps: BitmapsState };

const failed = (message: string) => codedError(message, 'invalid-option');

/** qemu's default granularity: the cluster size, within 4 KiB to 64 KiB. */
export const defaultGranularity = (clusterSize: number) => Math.min(65536, Math.max(4096, clusterSize));

export async function changeBitmaps(image: Image, op: BitmapOperation): Promise<void> {
  const { header, refcounts, child } = image;
  if (!refcounts) throw codedError(`${image.filename}: the image is opened read-only`, 'unsupported-operation');
  if (header.version !== 3) {
    throw codedError(`Can't make bitmap '${op.name}' persistent in '${image.filename}': Cannot store dirty bitmaps in qcow2 v2 files`, 'unsupported-operation');
  }
  const cs = header.clusterSize;
  const current = image.bitmaps.bitmaps;
  const index = current.findIndex((b) => b.name === op.name);
  const target = current[index];
  const freed: [number, number][] = []; // [first cluster, count] freed after the header moves on
  const tableClusters = (b: Bitmap) => Math.ceil((b.tableSize * 8) / cs);
  const freeTableAndData = async (b: Bitmap) => {
    freed.push([b.tableOffset / cs, tableClusters(b)]);
    for (const offset of await dataClusters(image, b)) freed.push([offset / cs, 1]);
  };
  const newTable = async (tableSize: number) => {
    const clusters = Math.ceil((tableSize * 8) / cs);
    const offset = await refcounts.allocateRun(clusters);
    await child.write(offset, new Uint8Array(tableSize * 8)); // as QEMU: the table's bytes, not its clusters'
    return offset;
  };

  let next: Bitmap[];
  if (op.kind === 'add') {
    if (target) throw failed(`Bitmap already exists: ${op.name}`);
    const granularity = op.granularity ?? defaultGranularity(cs);
    if (granularity < 512 || (granularity & (granularity - 1)) !== 0) throw failed('Granularity must be power of 2 and at least 512');
    const granularityBits = Math.log2(granularity);
    if (granularityBits > MAX_GRANULARITY_BITS) throw failed(`Granularity exceeds maximum (${2 ** MAX_GRANULARITY_BITS} bytes)`);
    if (new TextEncoder().encode(op.name).length > MAX_NAME_SIZE) throw failed(`Bitmap name is longer than ${MAX_NAME_SIZE} bytes`);
    if (current.length >= MAX_BITMAPS) throw failed(`Can't make bitmap '${op.name}' persistent in '${image.filename}': Maximum number of persistent bitmaps is already reached`);
    const tableSize = tableSizeFor(header.size, granularityBits, cs);
    const added: Bitmap = { name: op.name, granularityBits, flags: op.disabled ? 0 : BITMAP_AUTO, tableSize, tableOffset: await newTable(tableSize) };
    next = [...current, added];
  } else {
    if (!target) throw failed(`Dirty bitmap '${op.name}' not found`);
    next = [...current];
    if (op.kind === 'remove') {
      next.splice(index, 1);
      await freeTableAndData(target);
    } else if (op.kind === 'clear') {
      await freeTableAndData(target);
      next[index] = { ...target, tableOffset: await newTable(target.tableSize) };
    } else {
      next[index] = { ...target, flags: op.kind === 'enable' ? target.flags | BITMAP_AUTO : target.flags & ~BITMAP_AUTO };
    }
  }
  await child.flush();
  await storeBitmaps(image, next, freed);
}

/** Every bitmap removed, its table and data clusters freed (a downgrade to version 2, which cannot store them). */
export async function removeAllBitmaps(image: Image): Promise<void> {
  const bitmaps = image.bitmaps.bitmaps;
  if (!bitmaps.length) return;
  const cs = image.header.clusterSize;
  const freed: [number, number][] = [];
  for (const b of bitmaps) {
    freed.push([b.tableOffset / cs, Math.ceil((b.tableSize * 8) / cs)]);
    for (const offset of await dataClusters(image, b)) freed.push([offset / cs, 1]);
  }
  await storeBitmaps(image, [], freed);
}

/**
 * Point the image at `next` (whose tables are written and synced): a new directory in new
 * clusters, synced, the header rewritten in one write, then the old directory and the clusters in
 * `freed` ([first cluster, count]) released.
 */
export async function storeBitmaps(image: Image, next: readonly Bitmap[], freed: [number, number][]): Promise<void> {
  const { header, refcounts, child } = image;
  if (!refcounts) throw codedError(`${image.filename}: the image is opened read-only`, 'unsupported-operation');
  const cs = header.clusterSize;
  let place: { count: number; offset: number; size: number } | undefined;
  if (next.length) {
    const directory = encodeBitmapDirectory(next);
    const offset = await refcounts.allocateRun(Math.ceil(directory.length / cs));
    await child.write(offset, directory); // as QEMU: the directory's bytes, not its clusters'
    place = { count: next.length, offset, size: directory.length };
  }
  if (image.bitmaps.directorySize) freed.push([image.bitmaps.directoryOffset / cs, Math.ceil(image.bitmaps.directorySize / cs)]);
  await child.flush();
  // Only the first cluster: readFirstCluster reads 64 KiB, and with smaller clusters what follows is other metadata.
  const head = withBitmapsExtension((await readFirstCluster(child)).subarray(0, cs), header.headerLength, place);
  await child.write(0, head);
  await child.flush();
  image.header = parseHeader(head, child.size, image.filename);
  image.bitmaps = { bitmaps: next, directoryOffset: place?.offset ?? 0, directorySize: place?.size ?? 0 };

  for (const [first, count] of freed) await refcounts.release(first, count);
  await refcounts.writeBack();
  await child.flush();
}

/** The clusters of bitmap data a bitmap's table points to. */
export async function dataClusters(image: Image, b: Bitmap): Promise<number[]> {
  const table = new Uint8Array(b.tableSize * 8);
  await readHost(image.child, b.tableOffset, table);
  const view = new DataView(table.buffer);
  const out: number[] = [];
  for (let i = 0; i < b.tableSize; i++) {
    const offset = Number(view.getBigUint64(i * 8) & BME_OFFSET_MASK);
    // Only what could be this bitmap's: a table of an in-use bitmap may hold anything.
    if (offset && offset % image.header.clusterSize === 0 && offset < image.child.size) out.push(offset);
  }
  return out;
}
