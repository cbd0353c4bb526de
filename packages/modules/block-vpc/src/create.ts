import type { BlockCreateOptions, BlockNode } from '@tessera/core';
import { encodeDynamicHeader } from './dynamic-header.ts';
import { codedError } from './errors.ts';
import { DISK_DYNAMIC, DISK_FIXED, FOOTER_SIZE, NO_OFFSET, encodeFooter } from './footer.ts';
import { MAX_GEOMETRY_SECTORS, MAX_SECTORS, geometryCovering, sectorsOf, type Geometry } from './geometry.ts';

/** qemu-img's block size for new dynamic images: 2 MiB. */
const BLOCK_SIZE = 2 * 1024 * 1024;
const DYNAMIC_HEADER_AT = 512;
const BAT_AT = 1536;
/** VHD timestamps count seconds from 2000-01-01 00:00:00 UTC. */
const VHD_EPOCH = 946684800;

export interface VpcCreateSettings {
  readonly fixed: boolean;
  readonly forceSize: boolean;
}

const invalid = (message: string): Error => codedError(message, 'invalid-option');

/** The `-o` options, checked, with qemu-img's messages. */
export function parseCreateOptions(options: Readonly<Record<string, string>>): VpcCreateSettings {
  const subformat = options.subformat ?? 'dynamic';
  if (subformat !== 'dynamic' && subformat !== 'fixed') throw invalid(`Parameter 'subformat' does not accept value '${subformat}'`);
  const force = options.force_size ?? 'off';
  if (force !== 'on' && force !== 'off') throw invalid(`Parameter 'force_size' expects 'on' or 'off'`);
  return { fixed: subformat === 'fixed', forceSize: force === 'on' };
}

/**
 * The geometry and guest size of a new image, as qemu-img chooses them: the smallest CHS
 * geometry covering the size (so a convert never truncates), or with force_size the size
 * exactly as given and the largest geometry, which tells readers to use the footer's size.
 */
export function sizing(size: number, forceSize: boolean): { geometry: Geometry; bytes: number } {
  const requested = Math.ceil(size / 512);
  const geometry = forceSize ? { cylinders: 65535, heads: 16, sectorsPerTrack: 255 } : geometryCovering(requested);
  const sectors = sectorsOf(geometry) === MAX_GEOMETRY_SECTORS ? requested : sectorsOf(geometry);
  if (sectors > MAX_SECTORS) throw codedError(`The image size is too large for file format 'vpc'`, 'invalid-option');
  return { geometry, bytes: sectors * 512 };
}

export async function createImage(file: BlockNode, { size, formatOptions }: BlockCreateOptions): Promise<void> {
  const settings = parseCreateOptions(formatOptions);
  const { geometry, bytes } = sizing(size, settings.forceSize);
  const footer = encodeFooter({
    features: 2, // "reserved", always set
    version: 0x00010000,
    dataOffset: settings.fixed ? NO_OFFSET : BigInt(DYNAMIC_HEADER_AT),
    timestamp: (Math.floor(Date.now() / 1000) - VHD_EPOCH) >>> 0,
    // qemu marks the footer's size as authoritative with its own second creator name.
    creatorApp: settings.forceSize ? 'qem2' : 'qemu',
    creatorVersion: 0x00050003,
    creatorOs: 'Wi2k',
    originalSize: BigInt(bytes),
    currentSize: BigInt(bytes),
    geometry,
    diskType: settings.fixed ? DISK_FIXED : DISK_DYNAMIC,
    uniqueId: randomUuid(),
    savedState: 0,
  });
  if (settings.fixed) {
    // The guest bytes, then the footer (the file was created empty: the data stays a hole).
    await file.write(bytes, footer);
    return;
  }
  const entries = Math.ceil(bytes / BLOCK_SIZE);
  const batBytes = Math.ceil((entries * 4) / 512) * 512;
  const header = encodeDynamicHeader({ tableOffset: BigInt(BAT_AT), maxTableEntries: entries, blockSize: BLOCK_SIZE });
  const image = new Uint8Array(BAT_AT + batBytes + FOOTER_SIZE);
  image.set(footer, 0);
  image.set(header, DYNAMIC_HEADER_AT);
  image.fill(0xff, BAT_AT, BAT_AT + batBytes);
  image.set(footer, BAT_AT + batBytes);
  await file.write(0, image);
}

/** A random (version 4) UUID for the footer's unique id. */
function randomUuid(): Uint8Array {
  const id = crypto.getRandomValues(new Uint8Array(16));
  id[6] = (id[6]! & 0x0f) | 0x40;
  id[8] = (id[8]! & 0x3f) | 0x80;
  return id;
}
