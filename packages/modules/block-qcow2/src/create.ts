// Creating an image: the `-o` options checked as qemu-img checks them, then the same layout QEMU
// makes (header, refcount table, refcount blocks, L1 table, in that order from cluster 0), with
// every metadata cluster counted once.
import type { BlockCreateOptions, BlockNode } from '@tessera/core';
import { codedError } from './errors.ts';
import { ClusterMap } from './cluster/mapping.ts';
import { AUTOCLEAR_DATA_FILE_RAW, COMPAT_LAZY_REFCOUNTS, INCOMPAT_COMPRESSION, INCOMPAT_DATA_FILE, INCOMPAT_EXTL2 } from './header/features.ts';
import { COMPRESSION_TYPES, COMPRESSION_ZLIB } from './codecs.ts';
import { parseHeader } from './header/header.ts';
import { Qcow2Image } from './image.ts';
import { preallocate, preallocateFresh, type PreallocationMode } from './preallocate.ts';
import { buildHeader } from './header/write-header.ts';
import { MAX_BACKING_NAME, MAX_L1_BYTES, MAX_REFCOUNT_TABLE_BYTES, MAX_VIRTUAL_SIZE } from './limits.ts';
import { entriesPerBlock, setRefcount } from './refcount/entries.ts';
import { readFirstCluster } from './header/first-cluster.ts';
import { l1EntriesFor } from './layout.ts';
import { newEncryption, writeEncryptionHeader } from './encryption/create.ts';
import { encodeExtension } from './encryption/header-extension.ts';

const TRUE = ['on', 'yes', 'true'];
const FALSE = ['off', 'no', 'false'];
const V3 = 'use version=v3 or greater';

function flag(options: Readonly<Record<string, string>>, name: string): boolean {
  const value = options[name];
  if (value === undefined || FALSE.includes(value)) return false;
  if (TRUE.includes(value)) return true;
  throw new Error(`Parameter '${name}' expects 'on' or 'off'`);
}

export interface CreateSettings {
  readonly version: 2 | 3;
  readonly clusterBits: number;
  readonly refcountOrder: number;
  readonly lazyRefcounts: boolean;
  readonly extendedL2: boolean;
  readonly backingFile?: string;
  readonly backingFormat?: string;
  readonly preallocation: 'off' | PreallocationMode;
  readonly dataFile?: string;
  readonly dataFileRaw: boolean;
  /** 0 zlib, 1 zstd (codecs.ts). */
  readonly compressionType: number;
}

/** The settings `-o` asks for, refused with qemu-img's messages. */
export function createSettings(options: Readonly<Record<string, string>>): CreateSettings {
  const compat = options.compat ?? '1.1';
  const version = compat === '0.10' || compat === 'v2' ? 2 : compat === '1.1' || compat === 'v3' ? 3 : undefined;
  if (version === undefined) throw new Error(`Parameter 'version' does not accept value '${compat}'`);
  const clusterSize = Number(options.cluster_size ?? 65536);
  const clusterBits = Math.log2(clusterSize);
  if (!Number.isInteger(clusterBits) || clusterBits < 9 || clusterBits > 21) {
    throw new Error('Cluster size must be a power of two between 512 and 2048k');
  }
  const refcountBits = Number(options.refcount_bits ?? 16);
  const refcountOrder = Math.log2(refcountBits);
  if (!Number.isInteger(refcountOrder) || refcountOrder < 0 || refcountOrder > 6) {
    throw new Error('Refcount width must be a power of two and may not exceed 64 bits');
  }
  if (version === 2 && refcountBits !== 16) {
    throw new Error(`Different refcount widths than 16 bits require compatibility level 1.1 or above (${V3})`);
  }
  const lazyRefcounts = flag(options, 'lazy_refcounts');
  if (version === 2 && lazyRefcounts) throw new Error(`Lazy refcounts only supported with compatibility level 1.1 and above (${V3})`);
  const extendedL2 = flag(options, 'extended_l2');
  if (extendedL2) {
    if (version === 2) throw new Error(`Extended L2 entries are only supported with compatibility level 1.1 and above (${V3})`);
    if (clusterSize < 16384) throw new Error('Extended L2 entries are only supported with cluster sizes of at least 16384 bytes');
  }
  const compression = options.compression_type ?? 'zlib';
  const compressionType = COMPRESSION_TYPES.indexOf(compression);
  if (compressionType < 0) throw new Error(`Parameter 'compression-type' does not accept value '${compression}'`);
  if (compressionType !== COMPRESSION_ZLIB && version === 2) {
    throw new Error(`Non-zlib compression type is only supported with compatibility level 1.1 and above (${V3})`);
  }
  // A raw data file must hold every guest cluster at its offset: QEMU preallocates metadata for it.
  const preallocation = options.preallocation ?? (flag(options, 'data_file_raw') ? 'metadata' : 'off');
  if (preallocation !== 'off' && preallocation !== 'metadata' && preallocation !== 'falloc' && preallocation !== 'full') {
    throw new Error(`Parameter 'preallocation' does not accept value '${preallocation}'`);
  }
  const dataFile = options.data_file;
  const dataFileRaw = flag(options, 'data_file_raw');
  if (dataFile !== undefined && version === 2) throw new Error(`External data files are only supported with compatibility level 1.1 and above (${V3})`);
  if (dataFileRaw && dataFile === undefined) throw new Error("data-file-raw requires data-file");
  const backingFile = options.backing_file;
  const backingFormat = options.backing_fmt;
  if (backingFormat !== undefined && backingFile === undefined) throw new Error('Backing format cannot be used without backing file');
  if (backingFile !== undefined && new TextEncoder().encode(backingFile).length > MAX_BACKING_NAME) {
    throw new Error('Backing file name too long');
  }
  if (dataFileRaw && backingFile !== undefined) throw new Error('Backing file and data-file-raw cannot be used at the same time');
  return {
    version, clusterBits, refcountOrder, lazyRefcounts, extendedL2, preallocation, dataFileRaw, compressionType,
    ...(dataFile !== undefined ? { dataFile } : {}),
    ...(backingFile !== undefined ? { backingFile } : {}),
    ...(backingFormat !== undefined ? { backingFormat } : {}),
  };
}

/** Lay out a new image on the empty `file`. */
export async function createImage(file: BlockNode, { size, formatOptions, createRelative, secrets }: BlockCreateOptions): Promise<void> {
  // The data file is made first, as QEMU makes it (so also when the options are then refused).
  if (formatOptions.data_file !== undefined) {
    if (!createRelative) throw codedError('Creating an external data file is not possible here', 'unsupported-operation');
    await createRelative(formatOptions.data_file, size);
  }
  const settings = createSettings(formatOptions);
  const encryption = await newEncryption(formatOptions, secrets);
  if (size > MAX_VIRTUAL_SIZE) throw new Error(`The image size is too large for file format 'qcow2'`);
  const clusterSize = 2 ** settings.clusterBits;
  const l1Size = l1EntriesFor(size, clusterSize, settings.extendedL2);
  if (l1Size * 8 > MAX_L1_BYTES) throw new Error(`The image size is too large for file format 'qcow2' (try using a larger cluster size)`);
  const l1Clusters = Math.max(1, Math.ceil((l1Size * 8) / clusterSize));
  // The encryption header's clusters follow the L1 table, as qemu-img lays them out.
  const cryptoClusters = Math.ceil((encryption?.headerBytes ?? 0) / clusterSize);

  // Header, refcount table, refcount blocks, L1: enough blocks to count them all.
  const perBlock = entriesPerBlock(clusterSize, settings.refcountOrder);
  let blocks = 1;
  let tableClusters = 1;
  for (;;) {
    const total = 1 + tableClusters + blocks + l1Clusters + cryptoClusters;
    const neededBlocks = Math.ceil(total / perBlock);
    const neededTable = Math.ceil((neededBlocks * 8) / clusterSize);
    if (neededBlocks <= blocks && neededTable <= tableClusters) break;
    blocks = Math.max(blocks, neededBlocks);
    tableClusters = Math.max(tableClusters, neededTable);
  }
  if (tableClusters * clusterSize > MAX_REFCOUNT_TABLE_BYTES) throw new Error('the refcount table would be too large');
  const tableOffset = clusterSize;
  const blocksOffset = tableOffset + tableClusters * clusterSize;
  const l1Offset = blocksOffset + blocks * clusterSize;
  const total = 1 + tableClusters + blocks + l1Clusters + cryptoClusters;
  const cryptoOffset = l1Offset + l1Clusters * clusterSize;

  const table = new Uint8Array(tableClusters * clusterSize);
  const tableView = new DataView(table.buffer);
  const blockBytes = new Uint8Array(blocks * clusterSize);
  for (let b = 0; b < blocks; b++) tableView.setBigUint64(b * 8, BigInt(blocksOffset + b * clusterSize));
  for (let cluster = 0; cluster < total; cluster++) {
    const b = Math.floor(cluster / perBlock);
    setRefcount(blockBytes.subarray(b * clusterSize, (b + 1) * clusterSize), cluster % perBlock, settings.refcountOrder, 1n);
  }
  const place = encryption && (await writeEncryptionHeader(file, encryption, cryptoOffset, cryptoClusters * clusterSize));
  const header = buildHeader({
    version: settings.version,
    clusterBits: settings.clusterBits,
    size,
    l1Size,
    l1TableOffset: l1Offset,
    refcountTableOffset: tableOffset,
    refcountTableClusters: tableClusters,
    incompatible:
      (settings.extendedL2 ? INCOMPAT_EXTL2 : 0n) |
      (settings.dataFile !== undefined ? INCOMPAT_DATA_FILE : 0n) |
      (settings.compressionType !== COMPRESSION_ZLIB ? INCOMPAT_COMPRESSION : 0n),
    compressionType: settings.compressionType,
    compatible: settings.lazyRefcounts ? COMPAT_LAZY_REFCOUNTS : 0n,
    autoclear: settings.dataFileRaw ? AUTOCLEAR_DATA_FILE_RAW : 0n,
    ...(settings.dataFile !== undefined ? { dataFile: settings.dataFile } : {}),
    refcountOrder: settings.refcountOrder,
    ...(encryption ? { cryptMethod: encryption.method } : {}),
    ...(place ? { encryptionExtension: encodeExtension(place) } : {}),
    ...(settings.backingFile !== undefined ? { backingFile: settings.backingFile } : {}),
    ...(settings.backingFormat !== undefined ? { backingFormat: settings.backingFormat } : {}),
  });
  // Metadata first, the header (which makes it an image) last. The L1 table is written as long as
  // it is (QEMU does not pad the file to the cluster).
  await file.write(tableOffset, table);
  await file.write(blocksOffset, blockBytes);
  await file.write(l1Offset, new Uint8Array(Math.max(l1Size * 8, 8)));
  await file.flush();
  await file.write(0, header);
  await file.flush();
  if (settings.preallocation !== 'off') await preallocateNew(file, settings.preallocation, size);
}

/**
 * Preallocation of a new image: QEMU refuses it over a backing file unless extended L2 entries
 * can leave the subclusters to the backing file.
 */
async function preallocateNew(file: BlockNode, mode: PreallocationMode, size: number): Promise<void> {
  const header = parseHeader(await readFirstCluster(file), file.size, file.filename);
  if (header.backingFile !== undefined && !header.extendedL2) {
    throw new Error('Backing file and preallocation can only be used at the same time if extended_l2 is on');
  }
  // The image over the file, without backing or data file (preallocation reads neither).
  const image = new Qcow2Image(file, header, new ClusterMap(header, new BigUint64Array(header.l1Size), file), undefined, undefined);
  const plain = header.backingFile === undefined && (header.incompatible & INCOMPAT_DATA_FILE) === 0n;
  if (mode !== 'metadata' && plain && size > 0) {
    await preallocateFresh(image, size, mode);
    return;
  }
  await image.enableWrites();
  await preallocate(image, 0, size, mode);
  await file.flush();
}
