// Changing the virtual size of a qcow2 image (qemu-img resize).
//
// Growing: the L1 table must cover the new size. It grows in place when its clusters have room,
// else a larger copy is written elsewhere, synced, the header switched to it, and only then the
// old table's clusters released. Shrinking: the guest clusters past the new end are dropped
// (entries cleared and synced before their clusters' refcounts go down), L2 tables past the end
// unlinked from the L1 table (whose size stays, as QEMU leaves it), the header's size written,
// and the file cut after its last used cluster. A crash at any point leaves leaks at most.
import {
  HEADER_FIELD, OFLAG_COPIED as COPIED, geometry, l1EntriesFor, ownedEntry, referencedClusters, refcountBlockOffsetOf, tableBytes, tableClusters, l2TableOffset,
} from './layout.ts';
import type { ResizeOptions } from '@tessera/core';
import { forEachL2Table, writeL1Entry, writeL2Entries } from './cluster/tables.ts';
import { l1Fields, writeHeaderFields } from './header/fields.ts';
import { AUTOCLEAR_DATA_FILE_RAW, INCOMPAT_DATA_FILE } from './header/features.ts';
import type { Qcow2Header } from './header/header.ts';
import type { Qcow2State } from './state.ts';
import { MAX_L1_BYTES, MAX_VIRTUAL_SIZE } from './limits.ts';
import { preallocate } from './preallocate.ts';
import { entriesPerBlock, getRefcount } from './refcount/entries.ts';
import { inStep } from './overlap/guard.ts';
import { activeL1 } from './overlap/structures.ts';

/** `beforeChange` runs once the request is found valid, before anything is written (bitmaps/resize.ts marks the bitmaps in use). */
export async function resizeImage(image: Qcow2State, size: number, options: ResizeOptions, beforeChange?: () => Promise<void>): Promise<void> {
  if (size % 512 !== 0) throw new Error('The new size must be a multiple of 512');
  const refcounts = image.refcounts;
  if (!refcounts) throw new Error(`${image.filename}: the image is opened read-only`);
  await image.lock.write(async () => {
    const h = image.header;
    if (h.version === 2 && h.nbSnapshots > 0) throw new Error("Can't resize a v2 image which has snapshots");
    if (size > MAX_VIRTUAL_SIZE) throw new Error(`The image size is too large for file format 'qcow2'`);
    const preallocation = options.preallocation ?? 'off';
    if (!['off', 'metadata', 'falloc', 'full'].includes(preallocation)) throw new Error(`Unsupported preallocation mode '${preallocation}'`);
    if (size < h.size) {
      if (!options.shrink) throw new Error('Use the --shrink option to perform a shrink operation.');
      if (preallocation !== 'off') throw new Error('Preallocation can only be used for growing images');
      await beforeChange?.();
      await shrink(image, size);
      // An external data file follows the virtual size, as QEMU keeps it.
      if (image.dataFile?.resize) await image.dataFile.resize(size, { shrink: true });
    } else if (size > h.size) {
      const old = h.size;
      await beforeChange?.();
      await inStep((reason) => `Failed to grow the L1 table: ${reason}`, () => grow(image, size));
      if (image.dataFile?.resize) await image.dataFile.resize(size, { shrink: false });
      // A raw data file has every guest cluster mapped (QEMU preallocates metadata for it).
      const raw = (h.autoclear & AUTOCLEAR_DATA_FILE_RAW) !== 0n && (h.incompatible & INCOMPAT_DATA_FILE) !== 0n;
      const mode = preallocation === 'off' && raw ? 'metadata' : preallocation;
      if (mode !== 'off') await preallocate(image, old, size, mode);
    }
  });
}

/** Header bytes 24–47: size, crypt method, L1 size and offset, in one write within one sector, synced. */
async function writeSizeFields(image: Qcow2State, h: Qcow2Header): Promise<void> {
  await writeHeaderFields(image.overlap, l1Fields(h));
  await image.child.flush();
}

async function grow(image: Qcow2State, size: number): Promise<void> {
  const h = image.header;
  const cs = h.clusterSize;
  const l1Size = Math.max(h.l1Size, l1EntriesFor(size, cs, h.extendedL2));
  if (l1Size * 8 > MAX_L1_BYTES) throw new Error(`The image size is too large for file format 'qcow2' (try using a larger cluster size)`);
  const l1 = new BigUint64Array(l1Size);
  l1.set(image.map.l1.subarray(0, h.l1Size));
  const oldClusters = tableClusters(h.l1Size, cs);
  let l1TableOffset = h.l1TableOffset;
  if (l1Size > h.l1Size) {
    const table = tableBytes(l1, Math.ceil((l1Size * 8) / 512) * 512);
    if (h.l1Size > 0 && l1Size * 8 <= oldClusters * cs) {
      // Room in the table's clusters: the new entries (zeroes) go right after the old ones.
      await image.overlap.write(h.l1TableOffset + h.l1Size * 8, table.subarray(h.l1Size * 8, Math.min(table.length, oldClusters * cs)), activeL1(h, l1Size));
    } else {
      // A new table: it may land on no metadata (refcounts that call metadata free would hand it out).
      l1TableOffset = await image.refcounts!.allocateRun(Math.ceil(table.length / cs));
      await image.overlap.write(l1TableOffset, table);
    }
    await image.child.flush();
  }
  const header: Qcow2Header = { ...h, size, l1Size, l1TableOffset };
  await writeSizeFields(image, header);
  if (l1TableOffset !== h.l1TableOffset && oldClusters > 0) await image.refcounts!.release(h.l1TableOffset / cs, oldClusters);
  image.replaceTables(header, l1);
}

async function shrink(image: Qcow2State, size: number): Promise<void> {
  const h = image.header;
  const cs = h.clusterSize;
  const refcounts = image.refcounts!;
  const { l2EntrySize: entrySize, l2Entries } = geometry(h);
  const firstGone = Math.ceil(size / cs); // the first guest cluster wholly past the new end
  const keepL1 = Math.ceil(firstGone / l2Entries);
  const l1 = image.map.l1;
  // Data clusters of an external data file are not this file's clusters.
  const ownsData = (h.incompatible & INCOMPAT_DATA_FILE) === 0n;

  // The partly kept L2 table: its entries past the end cleared, then their clusters released
  // (a table shared with a snapshot gets a private copy first).
  const releases: number[] = [];
  const partial = keepL1 - 1;
  if (firstGone % l2Entries !== 0 && partial < h.l1Size && l2TableOffset(l1[partial]!) !== 0 && (l1[partial]! & COPIED) === 0n) {
    await unshareL2(image, partial, (firstGone % l2Entries) * entrySize, ownsData, releases);
  } else if (firstGone % l2Entries !== 0 && partial < h.l1Size && l2TableOffset(l1[partial]!) !== 0) {
    const l2Offset = l2TableOffset(l1[partial]!);
    const table = await image.map.l2Table(l2Offset);
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const from = (firstGone % l2Entries) * entrySize;
    for (let at = from; at < table.length; at += entrySize) referencedClusters(view.getBigUint64(at), h.clusterBits, ownsData, releases);
    // Only the entries that change are written (as QEMU discards only what is allocated): an
    // unchanged table is not written at all.
    let low = from;
    let high = table.length;
    while (low < high && table[low] === 0) low++;
    while (high > low && table[high - 1] === 0) high--;
    if (low < high) {
      table.fill(0, low, high);
      await writeL2Entries(image, l2Offset, table, low, high);
      await image.child.flush();
    }
  }
  // Whole L2 tables past the end: unlinked, then released with (when not shared) their clusters.
  const dropped: bigint[] = [];
  for (let i = keepL1; i < h.l1Size; i++) if (l1[i]) dropped.push(l1[i]!);
  if (dropped.length) {
    const zeroes = new Uint8Array((h.l1Size - keepL1) * 8);
    await image.overlap.write(h.l1TableOffset + keepL1 * 8, zeroes, activeL1(h));
    await image.child.flush();
    // A refcount counts the tables (of the image and of each snapshot) that use a cluster through
    // any L2 table: the active one stops using the table and everything it maps, shared or not.
    await forEachL2Table(dropped, (l2Offset) => image.map.l2Table(l2Offset), (table, view, l2Offset) => {
      for (let at = 0; at < table.length; at += entrySize) referencedClusters(view.getBigUint64(at), h.clusterBits, ownsData, releases);
      releases.push(l2Offset / cs);
    });
    l1.fill(0n, keepL1);
  }
  if (releases.length) await refcounts.change(releases, -1n);
  await image.child.flush();

  const header: Qcow2Header = { ...h, size };
  await writeSizeFields(image, header);
  image.replaceTables(header, l1);

  await dropEmptyRefcountBlocks(image);

  // The file ends after its last used cluster (QEMU cuts it there too).
  const clusters = Math.ceil(image.child.size / cs);
  const current = image.refcounts!; // reloaded when refcount blocks were dropped
  let last = Math.min(clusters, current.usedEnd) - 1; // (past it nothing is in use: a sparse tail)
  while (last > 0 && (await current.get(last)) === 0n) last--;
  if (last + 1 < clusters && image.child.resize) {
    await image.child.resize((last + 1) * cs, { shrink: true });
    await image.enableWrites(); // the allocator starts from the file's end again
  }
  // (QEMU keeps the refcount table where it is; so do we.)
}

/**
 * Refcount blocks that count nothing but themselves are unlinked from the refcount table (which
 * frees them), so the file can end before them. Refcounts are reloaded afterwards.
 */
async function dropEmptyRefcountBlocks(image: Qcow2State): Promise<void> {
  const cs = image.header.clusterSize;
  const order = image.header.refcountOrder;
  const perBlock = entriesPerBlock(cs, order);
  // The table may have moved since the header object was read: the file's header is the truth.
  const place = new Uint8Array(12);
  await image.child.read(HEADER_FIELD.refcountTableOffset, place);
  const placeView = new DataView(place.buffer);
  const tableOffset = Number(placeView.getBigUint64(0));
  const refcountTable = new Uint8Array(placeView.getUint32(HEADER_FIELD.refcountTableClusters - HEADER_FIELD.refcountTableOffset) * cs);
  await image.child.read(tableOffset, refcountTable);
  const table = new DataView(refcountTable.buffer);
  const block = new Uint8Array(cs);
  let dropped = 0;
  for (let i = 0; i < refcountTable.length / 8; i++) {
    const offset = refcountBlockOffsetOf(table.getBigUint64(i * 8));
    if (offset === 0 || offset + cs > image.child.size) continue;
    await image.child.read(offset, block);
    const self = offset / cs - i * perBlock; // the block's own entry
    if (self < 0 || self >= perBlock) continue; // counted elsewhere: not freed by unlinking it
    let empty = true;
    for (let e = 0; e < perBlock && empty; e++) {
      const value = getRefcount(block, e, order);
      empty = value === 0n || (e === self && value === 1n);
    }
    if (!empty) continue;
    await image.overlap.write(tableOffset + i * 8, new Uint8Array(8), { kind: 'refcount table', offset: tableOffset, length: refcountTable.length });
    dropped++;
  }
  if (dropped === 0) return;
  await image.child.flush();
  await image.enableWrites();
}

/**
 * Replace the shared L2 table of L1 entry `l1Index` with a private copy holding only its entries
 * before byte `keepBytes`. The kept clusters' refcounts already count the active image; the
 * dropped ones (added to `releases`) and the shared table lose its reference once the L1 entry
 * points to the copy (written and synced first).
 */
async function unshareL2(image: Qcow2State, l1Index: number, keepBytes: number, ownsData: boolean, releases: number[]): Promise<void> {
  const h = image.header;
  const cs = h.clusterSize;
  const refcounts = image.refcounts!;
  const entrySize = geometry(h).l2EntrySize;
  const oldOffset = l2TableOffset(image.map.l1[l1Index]!);
  const copy = new Uint8Array(await image.map.l2Table(oldOffset));
  const view = new DataView(copy.buffer);
  for (let at = keepBytes; at < copy.length; at += entrySize) referencedClusters(view.getBigUint64(at), h.clusterBits, ownsData, releases);
  copy.fill(0, keepBytes);
  const [newOffset] = (await refcounts.allocate(1)) as [number];
  await image.overlap.write(newOffset, copy);
  await image.child.flush();
  await writeL1Entry(image, l1Index, ownedEntry(newOffset));
  await image.child.flush();
  releases.push(oldOffset / cs);
  // The map caches tables by offset: the new one is read from disk on first use.
}
