/**
 * Builders for the VMDK extents qemu-img reads but cannot create, from their layouts (VMware's
 * Virtual Disk Format 1.1 for COWD; qemu's documented reading of seSparse, which VMware has not
 * published). Each stores the grains of a guest image that hold data, in a file order that is not
 * the guest order (every third grain goes last), so offsets in `map` are not simply increasing.
 */
const SECTOR = 512;

/** Grains of `data` (of `grainBytes` each) that hold a non-zero byte, in the order they are stored. */
function storedGrains(data: Uint8Array, grainBytes: number): number[] {
  const used: number[] = [];
  for (let grain = 0; grain * grainBytes < data.length; grain++) {
    if (data.subarray(grain * grainBytes, (grain + 1) * grainBytes).some((byte) => byte !== 0)) used.push(grain);
  }
  return [...used.filter((_, i) => i % 3 !== 2), ...used.filter((_, i) => i % 3 === 2)];
}

function grainBytesOf(data: Uint8Array, grain: number, grainBytes: number): Uint8Array {
  const out = new Uint8Array(grainBytes);
  out.set(data.subarray(grain * grainBytes, Math.min(data.length, (grain + 1) * grainBytes)));
  return out;
}

export interface CowdOptions {
  readonly grainSectors: number;
  /** Text at byte 512 (inside the parent file name field): qemu reads a CID there. */
  readonly textAt512?: string;
}

/**
 * A VMDK3 (COWD) sparse extent holding `data`: the 2048-byte header (magic, version 1, flags 3,
 * numSectors, grainSize, gdOffset 4, numGDEntries, freeSector, the root disk's geometry,
 * generation, name), the grain directory, all its 4096-entry grain tables, then the grains.
 */
export function cowdImage(data: Uint8Array, { grainSectors, textAt512 }: CowdOptions): Buffer {
  const sectors = Math.ceil(data.length / SECTOR);
  const grainBytes = grainSectors * SECTOR;
  const gtEntries = 4096;
  const gdEntries = Math.ceil(sectors / (grainSectors * gtEntries));
  const gdOffset = 4;
  const gdSectors = Math.ceil((gdEntries * 4) / SECTOR);
  const firstTable = gdOffset + gdSectors;
  const tableSectors = (gtEntries * 4) / SECTOR;
  let next = firstTable + gdEntries * tableSectors;
  const metadata = Buffer.alloc(next * SECTOR);
  const grains: Uint8Array[] = [];
  for (const grain of storedGrains(data, grainBytes)) {
    const table = Math.floor(grain / gtEntries);
    metadata.writeUInt32LE(next, (firstTable + table * tableSectors) * SECTOR + (grain % gtEntries) * 4);
    grains.push(grainBytesOf(data, grain, grainBytes));
    next += grainSectors;
  }
  metadata.write('COWD', 0, 'latin1');
  [1, 3, sectors, grainSectors, gdOffset, gdEntries, next].forEach((value, i) => metadata.writeUInt32LE(value, 4 + 4 * i));
  [Math.min(16383, Math.floor(sectors / (16 * 63))), 16, 63].forEach((value, i) => metadata.writeUInt32LE(value, 32 + 4 * i));
  metadata.writeUInt32LE(1, 1060); // generation
  metadata.write('tessera test disk', 1064, 'latin1');
  if (textAt512 !== undefined) metadata.write(textAt512, 512, 'latin1');
  for (let table = 0; table < gdEntries; table++) metadata.writeUInt32LE(firstTable + table * tableSectors, gdOffset * SECTOR + table * 4);
  return Buffer.concat([metadata, ...grains]);
}

export type SeSparseMark = 'zeroed' | 'unmapped';

/**
 * An ESXi seSparse extent holding `data`, grains of 4 KiB: constant header, volatile header,
 * journal header and journal, grain directory, grain tables (4096 u64 entries each), free bitmap,
 * backmap, grains. `marks` records grains as zeroed or unmapped (both read as zeroes, hiding the
 * backing image); they must hold no data.
 */
export function seSparseImage(data: Uint8Array, marks: ReadonlyMap<number, SeSparseMark> = new Map()): Buffer {
  const sectors = Math.ceil(data.length / SECTOR);
  const grainBytes = 4096;
  const gtEntries = 4096;
  const tables = Math.ceil(sectors / (8 * gtEntries));
  const gdSectors = Math.max(1, Math.ceil((tables * 8) / SECTOR));
  const layout = { volatile: 1, journalHeader: 2, journal: 3, journalSectors: 8 };
  const gdOffset = layout.journal + layout.journalSectors;
  const gtOffset = gdOffset + gdSectors;
  const gtSectors = tables * 64;
  const bitmapOffset = gtOffset + gtSectors;
  const backmapOffset = bitmapOffset + 1;
  const grainsOffset = backmapOffset + 1;
  const metadata = Buffer.alloc(grainsOffset * SECTOR);
  const entryAt = (grain: number) => (gtOffset + Math.floor(grain / gtEntries) * 64) * SECTOR + (grain % gtEntries) * 8;
  const stored = storedGrains(data, grainBytes);
  stored.forEach((grain, number) => {
    // The grain's number: its low 12 bits in bits 48-59, the rest in bits 0-47; type 3 on top.
    const entry = (3n << 60n) | (BigInt(number & 0xfff) << 48n) | BigInt(Math.floor(number / 4096));
    metadata.writeBigUInt64LE(entry, entryAt(grain));
  });
  for (const [grain, mark] of marks) {
    if (stored.includes(grain)) throw new Error(`grain ${grain} holds data; it cannot be marked ${mark}`);
    metadata.writeBigUInt64LE((mark === 'zeroed' ? 2n : 1n) << 60n, entryAt(grain));
  }
  for (let table = 0; table < tables; table++) metadata.writeBigUInt64LE((1n << 60n) | BigInt(table), gdOffset * SECTOR + table * 8);
  const header = [
    0xcafeBaben, 0x200000001n, BigInt(sectors), 8n, 64n, 0n, 0n, 0n, 0n, 0n,
    BigInt(layout.volatile), 1n, BigInt(layout.journalHeader), 1n, BigInt(layout.journal), BigInt(layout.journalSectors),
    BigInt(gdOffset), BigInt(gdSectors), BigInt(gtOffset), BigInt(gtSectors),
    BigInt(bitmapOffset), 1n, BigInt(backmapOffset), 1n, BigInt(grainsOffset), BigInt(stored.length * 8),
  ];
  header.forEach((value, i) => metadata.writeBigUInt64LE(value, i * 8));
  // Volatile header: magic, free grain table number, next transaction, no journal to replay.
  [0xcafecafen, BigInt(tables), 1n, 0n].forEach((value, i) => metadata.writeBigUInt64LE(value, layout.volatile * SECTOR + i * 8));
  return Buffer.concat([metadata, ...stored.map((grain) => grainBytesOf(data, grain, grainBytes))]);
}

/** A descriptor file as VMware writes one for a delta disk (parentFileNameHint when it has a parent). */
export function descriptorText(createType: string, extentLines: readonly string[], parent?: { cid: number; fileName: string }): string {
  return [
    '# Disk DescriptorFile',
    'version=1',
    'encoding="UTF-8"',
    'CID=2c4e8a1f',
    `parentCID=${parent ? parent.cid.toString(16) : 'ffffffff'}`,
    ...(parent ? [`parentFileNameHint="${parent.fileName}"`] : []),
    `createType="${createType}"`,
    '',
    '# Extent description',
    ...extentLines,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    'ddb.adapterType = "lsilogic"',
    'ddb.virtualHWVersion = "14"',
    '',
  ].join('\n');
}
