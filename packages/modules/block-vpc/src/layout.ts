import type { BlockNode } from '@tessera/core';
import { DYNAMIC_HEADER_SIZE, decodeDynamicHeader, dynamicHeaderChecksum, hasDynamicCookie } from './dynamic-header.ts';
import { codedError, corrupt, unsupported } from './errors.ts';
import { DISK_DIFFERENCING, DISK_DYNAMIC, DISK_FIXED, FOOTER_SIZE, decodeFooter, footerChecksum, hasFooterCookie, type Footer } from './footer.ts';
import { MAX_GEOMETRY_SECTORS, MAX_SECTORS, sectorsOf } from './geometry.ts';
import type { SizeCalculation } from './open-options.ts';

/** Everything `open` learns from an image's metadata, checked against the file. */
export interface VpcLayout {
  readonly footer: Footer;
  /** The footer's bytes as read (a dynamic image rewrites them at its new end when it grows). */
  readonly footerBytes: Uint8Array;
  readonly virtualSize: number;
  readonly dynamic?: DynamicLayout;
}

export interface DynamicLayout {
  readonly blockSize: number;
  /** Bytes of each block's sector bitmap, a whole number of sectors. */
  readonly bitmapSize: number;
  readonly batOffset: number;
  /** Sector of each block's bitmap, or UNALLOCATED. */
  readonly bat: Uint32Array;
  /** Where the next block goes: past the BAT and every block (the footer lives there). */
  readonly freeOffset: number;
}

export const UNALLOCATED = 0xffffffff;

/**
 * Creator applications that mean "the size is the footer's current size" (Hyper-V, qemu with
 * force_size, Disk2vhd, XenServer, XenConverter); others (Virtual PC, qemu) mean "the size is
 * the CHS geometry's", as qemu decides.
 */
const SIZE_FROM_FOOTER = new Set(['win ', 'qem2', 'd2v ', 'CTXS', 'tap\0']);

/** qemu's bound on the BAT's entries (it allocates them as one array of int-sized length). */
const MAX_TABLE_ENTRIES = Math.floor(0x7fffffff / 4);

/**
 * Read and check an image's footer (at the start of a dynamic image, else at the end), its
 * dynamic header and BAT, as qemu 7.2 does, with its messages; every field is distrusted.
 */
export async function readLayout(file: BlockNode, sizeCalculation: SizeCalculation = undefined): Promise<VpcLayout> {
  const name = file.filename;
  if (file.size < FOOTER_SIZE) throw corrupt(name, 'invalid VPC image');
  let footerBytes = new Uint8Array(FOOTER_SIZE);
  await file.read(0, footerBytes);
  let dynamicByHead = true;
  if (!hasFooterCookie(footerBytes)) {
    // A fixed disk has its footer only at the end.
    footerBytes = new Uint8Array(FOOTER_SIZE);
    await file.read(file.size - FOOTER_SIZE, footerBytes);
    dynamicByHead = false;
    if (!hasFooterCookie(footerBytes) || decodeFooter(footerBytes).diskType !== DISK_FIXED) throw corrupt(name, 'invalid VPC image');
  }
  const footer = decodeFooter(footerBytes);
  if (footerChecksum(footerBytes) !== footer.checksum) throw corrupt(name, 'Incorrect header checksum');

  const geometrySectors = sectorsOf(footer.geometry);
  // force_size_calc overrides the creator's word; the largest geometry always means "see the footer".
  const byCreator = sizeCalculation === undefined ? !SIZE_FROM_FOOTER.has(footer.creatorApp) : sizeCalculation === 'chs';
  const useGeometry = byCreator && geometrySectors !== MAX_GEOMETRY_SECTORS;
  const sectors = useGeometry ? geometrySectors : Number(footer.currentSize / 512n);
  if (sectors > MAX_SECTORS) {
    throw codedError(`Could not open '${name}': Disk size is too large; max size allowed: ${MAX_SECTORS} sectors`, 'unsupported-feature');
  }
  const virtualSize = sectors * 512;

  if (footer.diskType === DISK_DIFFERENCING) {
    throw unsupported(name, 'differencing VHD images (with a parent image) are not supported; convert the chain with the tool that made it');
  }
  // qemu reads any type but dynamic as fixed when the footer is at the start; a fixed disk has
  // its footer at the end, so a type other than these two is refused as impossible.
  if (!dynamicByHead || footer.diskType === DISK_FIXED) {
    if (footer.diskType !== DISK_FIXED) throw corrupt(name, `unknown VHD disk type ${footer.diskType}`);
    if (virtualSize > file.size) throw corrupt(name, `the fixed disk's size (${virtualSize} bytes) is larger than its file`);
    return { footer, footerBytes, virtualSize };
  }
  if (footer.diskType !== DISK_DYNAMIC) throw corrupt(name, `unknown VHD disk type ${footer.diskType}`);
  return { footer, footerBytes, virtualSize, dynamic: await readDynamic(file, footer, virtualSize) };
}

async function readDynamic(file: BlockNode, footer: Footer, virtualSize: number): Promise<DynamicLayout> {
  const name = file.filename;
  const headerOffset = footer.dataOffset;
  if (headerOffset > BigInt(file.size - DYNAMIC_HEADER_SIZE)) throw corrupt(name, 'Error reading dynamic VHD header');
  const headerBytes = new Uint8Array(DYNAMIC_HEADER_SIZE);
  await file.read(Number(headerOffset), headerBytes);
  if (!hasDynamicCookie(headerBytes)) throw corrupt(name, 'Invalid header magic');
  const header = decodeDynamicHeader(headerBytes);
  if (dynamicHeaderChecksum(headerBytes) !== header.checksum) throw corrupt(name, 'Incorrect dynamic disk header checksum');

  const blockSize = header.blockSize;
  if (blockSize < 512 || (blockSize & (blockSize - 1)) !== 0) throw corrupt(name, `Invalid block size ${blockSize}`);
  const bitmapSize = Math.ceil(blockSize / (8 * 512) / 512) * 512;
  if (virtualSize / blockSize > 0xffffffff) throw corrupt(name, 'Too many blocks');
  const entries = header.maxTableEntries;
  if (entries * blockSize < virtualSize) throw corrupt(name, 'Page table too small');
  if (entries > MAX_TABLE_ENTRIES) throw corrupt(name, `Max Table Entries too large (${entries})`);
  const batBytes = entries * 4;
  // A BAT must lie inside the file: this bounds the allocation by the file's size.
  if (header.tableOffset > BigInt(file.size) || Number(header.tableOffset) + batBytes > file.size) throw corrupt(name, 'Error reading pagetable');
  const batOffset = Number(header.tableOffset);
  const raw = new Uint8Array(batBytes);
  await file.read(batOffset, raw);
  const view = new DataView(raw.buffer);
  const bat = new Uint32Array(entries);
  let freeOffset = Math.ceil((batOffset + batBytes) / 512) * 512;
  for (let i = 0; i < entries; i++) {
    const sector = view.getUint32(i * 4);
    bat[i] = sector;
    if (sector !== UNALLOCATED) freeOffset = Math.max(freeOffset, sector * 512 + bitmapSize + blockSize);
  }
  if (freeOffset > file.size) {
    throw corrupt(name, 'block-vpc: free_data_block_offset points after the end of file. The image has been truncated.');
  }
  for (let i = 0; i < entries; i++) {
    if (bat[i] === UNALLOCATED) continue;
    const start = bat[i]! * 512;
    const end = start + bitmapSize + blockSize;
    const overlaps = (at: number, length: number) => start < at + length && at < end;
    if (overlaps(0, 512) || overlaps(Number(headerOffset), DYNAMIC_HEADER_SIZE) || overlaps(batOffset, batBytes)) {
      throw corrupt(name, `block ${i} (at offset ${start}) overlaps the image's metadata`);
    }
  }
  return { blockSize, bitmapSize, batOffset, bat, freeOffset };
}
