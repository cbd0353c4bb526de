// qemu-img amend for qcow2: compat 0.10 <-> 1.1, lazy_refcounts, the data file's name and size,
// with QEMU's checks and messages. The header is rewritten whole from the values on disk (the
// refcount table and snapshot table may have moved since the image was opened).
//
// A downgrade to version 2 first turns zero clusters into what version 2 can express (nothing,
// where the cluster reads as zeroes anyway, or a data cluster of zeroes), synced, before the
// version 2 header is written. A new refcount width gets new refcount structures.
import { writeL2Entries } from './cluster/tables.ts';
import { AUTOCLEAR_DATA_FILE_RAW, COMPAT_LAZY_REFCOUNTS, INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE, INCOMPAT_DIRTY } from './header/features.ts';
import { HEADER_FIELD as F, OFLAG_COPIED as COPIED, V2_HEADER_LENGTH, V3_HEADER_LENGTH, decodeL2Entry, l2HostOffset, l2TableOffset, tableBytes } from './layout.ts';
import type { Qcow2Header } from './header/header.ts';
import { buildHeader } from './header/write-header.ts';
import type { Qcow2State } from './state.ts';
import { entriesPerBlock, maxRefcount, setRefcount } from './refcount/entries.ts';
import { resizeKeepingBitmaps, type ResizableImage } from './bitmaps/resize.ts';
import { removeAllBitmaps } from './bitmaps/change.ts';
import { withBitmapsExtension } from './bitmaps/header-extension.ts';
import { AMEND_OPTIONS, ENCRYPTION_AMEND_OPTIONS } from './options.ts';
import { codedError } from './errors.ts';
import { readSnapshotL1 } from './snapshot/find.ts';
import { inStep } from './overlap/guard.ts';
import { HEADER } from './overlap/structures.ts';
const TRUE = ['on', 'yes', 'true'];
const FALSE = ['off', 'no', 'false'];

function flag(value: string, name: string): boolean {
  if (TRUE.includes(value)) return true;
  if (FALSE.includes(value)) return false;
  throw new Error(`Parameter '${name}' expects 'on' or 'off'`);
}

export async function amendImage(image: ResizableImage & Qcow2State, options: Readonly<Record<string, string>>): Promise<void> {
  if (!image.refcounts) throw new Error(`${image.filename}: the image is opened read-only`);
  for (const key of Object.keys(options)) {
    if (!AMEND_OPTIONS.some((option) => option.name === key)) {
      throw codedError(`Invalid parameter '${key}'\nThis option is only supported for image creation`, 'invalid-option');
    }
    // Encrypted qcow2 images are not read here, so an image amend opens has no encryption.
    if (ENCRYPTION_AMEND_OPTIONS.some((option) => option.name === key)) {
      throw codedError("Can't amend encryption options - encryption not present", 'invalid-option');
    }
  }
  const h = image.header;
  let version = h.version;
  if (options.compat !== undefined) {
    const compat = options.compat;
    if (compat === '0.10' || compat === 'v2') version = 2;
    else if (compat === '1.1' || compat === 'v3') version = 3;
    else throw new Error(`Unknown compatibility level ${compat}`);
  }
  if (options.backing_file !== undefined || options.backing_fmt !== undefined) {
    throw new Error("Cannot amend the backing file\nYou can use 'qemu-img rebase' instead.");
  }
  const lazy = options.lazy_refcounts === undefined ? undefined : flag(options.lazy_refcounts, 'lazy_refcounts');
  let refcountOrder = h.refcountOrder;
  if (options.refcount_bits !== undefined) {
    const bits = Number(options.refcount_bits);
    refcountOrder = Math.log2(bits);
    if (!Number.isInteger(refcountOrder) || refcountOrder < 0 || refcountOrder > 6) {
      throw new Error('Refcount width must be a power of two and may not exceed 64 bits');
    }
  }
  if (version === 2) {
    if (options.refcount_bits !== undefined && refcountOrder !== 4) {
      throw new Error(
        h.version === 2 && options.compat === undefined
          ? 'Refcount widths other than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)'
          : 'compat=0.10 requires refcount_bits=16',
      );
    }
    if (refcountOrder !== 4) throw new Error('compat=0.10 requires refcount_bits=16');
    if (lazy) throw new Error('Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)');
  }
  const dataFile = options.data_file;
  if (dataFile !== undefined && (h.incompatible & INCOMPAT_DATA_FILE) === 0n) {
    throw new Error('data-file can only be set for images that use an external data file');
  }
  if (options.data_file_raw !== undefined) {
    const raw = flag(options.data_file_raw, 'data_file_raw');
    if ((h.incompatible & INCOMPAT_DATA_FILE) === 0n) throw new Error('data-file-raw can only be set for images that use an external data file');
    const current = (h.autoclear & AUTOCLEAR_DATA_FILE_RAW) !== 0n;
    if (raw !== current) throw new Error('Changing data-file-raw of an existing image is not supported');
  }
  let size: number | undefined;
  if (options.size !== undefined) {
    size = Number(options.size);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`Value '${options.size}' is out of range for parameter 'size'`);
  }
  if (version === 2 && h.version === 3) {
    if (h.incompatible & INCOMPAT_DATA_FILE) throw new Error('Cannot downgrade an image with a data file');
    // qemu-img 7.2 downgrades such an image, and its zstd clusters then read as zlib: garbage.
    if (h.compressionType !== 0) throw new Error('Cannot downgrade an image whose compression type is not zlib: compat=0.10 images have zlib only');
    const features = h.incompatible & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT);
    if (features) throw new Error(`Cannot downgrade an image with incompatible features 0x${features.toString(16)} set`);
  }

  // Version 3 features first (an upgrade), then the size, then a downgrade, as QEMU orders them.
  const compatible = lazy === undefined ? h.compatible : lazy ? h.compatible | COMPAT_LAZY_REFCOUNTS : h.compatible & ~COMPAT_LAZY_REFCOUNTS;
  if (version === 3 && (h.version === 2 || compatible !== h.compatible || dataFile !== undefined)) {
    await image.lock.write(() =>
      rewriteHeader(image, {
        version: 3,
        compatible,
        ...(dataFile !== undefined ? { dataFile } : {}),
      }),
    );
  }
  if (refcountOrder !== h.refcountOrder) {
    // (qemu-img's message when a write of the new structure is refused.)
    await image.lock.write(() => inStep((reason) => `Overlap check failed: ${reason}`, () => changeRefcountWidth(image, refcountOrder)));
  }
  if (size !== undefined && size !== image.header.size) await resizeKeepingBitmaps(image, size, { shrink: true });
  if (version === 2 && h.version === 3) {
    await image.lock.write(async () => {
      // Version 2 cannot store bitmaps: qemu-img 7.2 drops them too (it leaks their clusters and
      // leaves their extension, which every later open warns about; here both go).
      await removeAllBitmaps(image);
      await expandZeroClusters(image);
      await rewriteHeader(image, { version: 2, compatible: 0n });
    });
  }
}

/**
 * New refcount blocks and table of the new width, after the end of the file: every cluster's
 * refcount copied over (the old structures counted as free, the new ones as used), written and
 * synced; then one header write switches width and table; the old structures become holes.
 */
async function changeRefcountWidth(image: Qcow2State, order: number): Promise<void> {
  const h = image.header;
  const cs = h.clusterSize;
  const refcounts = image.refcounts!;
  // After the last cluster in use (and the refcount structure), not at the file's end: a sparse
  // file may reach far beyond it.
  let used = refcounts.usedEnd;
  for (const offset of refcounts.metadata()) used = Math.max(used, offset / cs + 1);
  const max = maxRefcount(order);
  const values: bigint[] = [];
  for (let cluster = 0; cluster < used; cluster++) {
    const value = await refcounts.get(cluster);
    if (value > max) {
      throw new Error(`Cannot decrease refcount entry width to ${2 ** order} bits: Cluster at offset 0x${(cluster * cs).toString(16)} has a refcount of ${value}`);
    }
    values.push(value);
  }
  for (const offset of refcounts.metadata()) if (offset / cs < used) values[offset / cs] = 0n;
  const perBlock = entriesPerBlock(cs, order);
  let blocks = 0;
  let tableClusters = 0;
  for (;;) {
    const nextBlocks = Math.ceil((used + blocks + tableClusters) / perBlock);
    const nextTable = Math.ceil((nextBlocks * 8) / cs);
    if (nextBlocks === blocks && nextTable === tableClusters) break;
    [blocks, tableClusters] = [nextBlocks, nextTable];
  }
  for (let c = used; c < used + blocks + tableClusters; c++) values[c] = 1n;
  const blockBytes = new Uint8Array(blocks * cs);
  values.forEach((value, cluster) => {
    if (value === 0n) return;
    const b = Math.floor(cluster / perBlock);
    setRefcount(blockBytes.subarray(b * cs, (b + 1) * cs), cluster % perBlock, order, value);
  });
  const table = tableBytes(Array.from({ length: blocks }, (_, b) => BigInt((used + b) * cs)), tableClusters * cs);
  const tableOffset = (used + blocks) * cs;
  // New structures after everything in use: refcounts that call metadata free must not put them on it.
  await image.overlap.write(used * cs, blockBytes);
  await image.overlap.write(tableOffset, table);
  await image.child.flush();
  // Bytes 48–99 (table offset and size, snapshots, features, refcount order) in one write.
  const start = F.refcountTableOffset;
  const fields = new Uint8Array(F.refcountOrder + 4 - start);
  await image.child.read(start, fields);
  const view = new DataView(fields.buffer);
  view.setBigUint64(F.refcountTableOffset - start, BigInt(tableOffset));
  view.setUint32(F.refcountTableClusters - start, tableClusters);
  view.setUint32(F.refcountOrder - start, order);
  await image.overlap.write(start, fields, HEADER);
  await image.child.flush();
  image.replaceTables({ ...h, refcountOrder: order, refcountTableOffset: tableOffset, refcountTableClusters: tableClusters }, image.map.l1);
  await image.enableWrites();
}

/** The whole first cluster anew from the header's current values with these changes; then the image follows it. */
async function rewriteHeader(image: ResizableImage & Qcow2State, change: { version: 2 | 3; compatible: bigint; dataFile?: string }): Promise<void> {
  const h = image.header;
  const onDisk = new Uint8Array(V2_HEADER_LENGTH);
  await image.child.read(0, onDisk);
  const view = new DataView(onDisk.buffer);
  const incompatible = change.version === 2 ? 0n : h.incompatible & ~INCOMPAT_DIRTY;
  const next: Qcow2Header = {
    ...h,
    version: change.version,
    size: Number(view.getBigUint64(F.size)),
    l1Size: view.getUint32(F.l1Size),
    l1TableOffset: Number(view.getBigUint64(F.l1TableOffset)),
    refcountTableOffset: Number(view.getBigUint64(F.refcountTableOffset)),
    refcountTableClusters: view.getUint32(F.refcountTableClusters),
    nbSnapshots: view.getUint32(F.nbSnapshots),
    snapshotsOffset: Number(view.getBigUint64(F.snapshotsOffset)),
    incompatible,
    compatible: change.compatible,
    autoclear: change.version === 2 ? 0n : h.autoclear,
    headerLength: change.version === 2 ? V2_HEADER_LENGTH : V3_HEADER_LENGTH,
    extensions: { ...h.extensions, ...(change.dataFile !== undefined ? { dataFile: change.dataFile } : {}) },
  };
  const bytes = buildHeader({
    version: next.version,
    clusterBits: next.clusterBits,
    size: next.size,
    l1Size: next.l1Size,
    l1TableOffset: next.l1TableOffset,
    refcountTableOffset: next.refcountTableOffset,
    refcountTableClusters: next.refcountTableClusters,
    incompatible: next.incompatible,
    compatible: next.compatible,
    autoclear: next.autoclear,
    refcountOrder: next.refcountOrder,
    nbSnapshots: next.nbSnapshots,
    snapshotsOffset: next.snapshotsOffset,
    ...(next.version === 3 ? { compressionType: h.compressionType } : {}),
    ...(next.backingFile !== undefined ? { backingFile: next.backingFile } : {}),
    ...(next.extensions.backingFormat !== undefined ? { backingFormat: next.extensions.backingFormat } : {}),
    ...(next.extensions.dataFile !== undefined && next.version === 3 ? { dataFile: next.extensions.dataFile } : {}),
  });
  // A version 3 header keeps the image's bitmaps (their extension; the autoclear bit is in `autoclear`).
  const { bitmaps, directoryOffset, directorySize } = image.bitmaps;
  const head = change.version === 3 && bitmaps.length ? withBitmapsExtension(bytes, V3_HEADER_LENGTH, { count: bitmaps.length, offset: directoryOffset, size: directorySize }) : bytes;
  await image.child.flush();
  await image.overlap.write(0, head, HEADER);
  await image.child.flush();
  image.replaceTables(next, image.map.l1);
  await image.enableWrites(); // lazy refcounts on or off: the write path follows the header
}

/**
 * Zero clusters of every L2 table (the active ones and the snapshots') become version 2 entries:
 * unallocated where that reads as zeroes too (no backing file), else a data cluster of zeroes (a
 * preallocated one is reused when no other table refers to it). An L2 table that several L1
 * tables share is expanded once, and a new cluster in it gets the table's refcount. (qemu-img 7.2
 * judges COPIED by the table's refcount and can leave a data cluster that a snapshot shares
 * marked COPIED, which its own check then reports.)
 */
async function expandZeroClusters(image: Qcow2State): Promise<void> {
  const h = image.header;
  const cs = h.clusterSize;
  const refcounts = image.refcounts!;
  const zeroes = new Uint8Array(cs);
  const l1Tables = [image.map.l1];
  for (const snapshot of image.snapshots) l1Tables.push(await readSnapshotL1(image, snapshot));
  const expanded = new Set<number>();
  for (const [n, l1] of l1Tables.entries()) {
    for (const l1Entry of l1) {
      const l2Offset = l2TableOffset(l1Entry);
      if (l2Offset === 0 || expanded.has(l2Offset)) continue;
      expanded.add(l2Offset);
      const tableRefcount = await refcounts.get(l2Offset / cs);
      const table = await image.map.l2Table(l2Offset);
      const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
      const changes: [number, bigint][] = [];
      const released: number[] = [];
      for (let at = 0; at < table.length; at += 8) {
        const entry = view.getBigUint64(at);
        if (decodeL2Entry(entry, h.clusterBits, false).kind !== 'zero') continue;
        const offset = l2HostOffset(entry);
        // A preallocated cluster is overwritten only when no other table refers to it: one that a
        // snapshot shares may still hold the snapshot's data.
        const reusable = offset !== 0 && (await refcounts.get(offset / cs)) === tableRefcount;
        if (!image.backing) {
          changes.push([at, 0n]);
          if (offset !== 0) released.push(offset / cs);
        } else if (reusable) {
          await image.overlap.write(offset, zeroes);
          changes.push([at, BigInt(offset) | (tableRefcount === 1n ? COPIED : 0n)]);
        } else {
          if (offset !== 0) released.push(offset / cs);
          const [fresh] = (await refcounts.allocate(1)) as [number];
          if (tableRefcount > 1n) await refcounts.change([fresh], tableRefcount - 1n);
          await image.overlap.write(fresh, zeroes);
          changes.push([at, BigInt(fresh) | (tableRefcount === 1n ? COPIED : 0n)]);
        }
      }
      if (!changes.length) continue;
      await image.child.flush();
      for (const [at, entry] of changes) view.setBigUint64(at, entry);
      await writeL2Entries(image, l2Offset, table, 0, table.length, n > 0);
      await image.child.flush();
      // Each L1 table that shares this L2 table counted its clusters once.
      if (released.length) await refcounts.change(released, -tableRefcount);
    }
  }
  await image.child.flush();
}
