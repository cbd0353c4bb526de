import { codedError } from '@tessera/module-kit/coded-error';

/** DMG chunk types (the "blkx" run types qemu reads; others are skipped as qemu skips them). */
export const ChunkType = {
  zero: 0x00000000, // UDZE
  raw: 0x00000001, // UDRW
  ignore: 0x00000002, // UDIG
  adc: 0x80000004, // UDCO: not read by qemu either
  zlib: 0x80000005, // UDZO
  bzip2: 0x80000006, // UDBZ
  lzfse: 0x80000007, // ULFO
  comment: 0x7ffffffe,
  last: 0xffffffff,
} as const;

const READ_TYPES = new Set<number>([ChunkType.zero, ChunkType.raw, ChunkType.ignore, ChunkType.zlib, ChunkType.bzip2, ChunkType.lzfse]);

/** One run of guest sectors and where (and how) its bytes are stored. */
export interface Chunk {
  readonly type: number;
  readonly firstSector: number;
  readonly sectorCount: number;
  readonly offset: number;
  readonly length: number;
}

/** qemu's limits: a chunk that must be decompressed or copied is at most 64 MiB either way. */
export const MAX_CHUNK_LENGTH = 64 * 1024 * 1024;
export const MAX_CHUNK_SECTORS = MAX_CHUNK_LENGTH / 512;
const MISH = 0x6d697368;
const MISH_HEADER = 204;
const ENTRY = 40;

/**
 * The chunks of one "mish" block (a blkx resource's data): skipped, as qemu skips it, when it is
 * not one (wrong magic, too short). Offsets are relative to the data fork, sectors to the block's first.
 */
export function mishChunks(block: Uint8Array, dataForkOffset: number, filename: string): Chunk[] {
  if (block.length < 244) return [];
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  if (view.getUint32(0) !== MISH) return [];
  const corrupt = (what: string) => codedError(`Could not open '${filename}': ${what}`, 'corrupt-image');
  const u64 = (at: number): number => {
    const value = view.getBigUint64(at);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`a chunk table field (${value}) is out of range`);
    return Number(value);
  };
  const firstSector = u64(8);
  const dataOffset = u64(0x18);
  const chunks: Chunk[] = [];
  const count = Math.floor((block.length - MISH_HEADER) / ENTRY);
  for (let i = 0; i < count; i++) {
    const at = MISH_HEADER + i * ENTRY;
    const type = view.getUint32(at);
    if (!READ_TYPES.has(type)) continue;
    const chunk: Chunk = {
      type,
      firstSector: firstSector + u64(at + 8),
      sectorCount: u64(at + 0x10),
      offset: dataForkOffset + dataOffset + u64(at + 0x18),
      length: u64(at + 0x20),
    };
    const index = chunks.length;
    // qemu's words.
    if (type !== ChunkType.zero && type !== ChunkType.ignore && chunk.sectorCount > MAX_CHUNK_SECTORS) {
      throw corrupt(`sector count ${chunk.sectorCount} for chunk ${index} is larger than max (${MAX_CHUNK_SECTORS})`);
    }
    if (chunk.length > MAX_CHUNK_LENGTH) throw corrupt(`length ${chunk.length} for chunk ${index} is larger than max (${MAX_CHUNK_LENGTH})`);
    if (!Number.isSafeInteger(chunk.firstSector + chunk.sectorCount) || !Number.isSafeInteger(chunk.offset + chunk.length)) {
      throw corrupt(`chunk ${index} is out of range`);
    }
    chunks.push(chunk);
  }
  return chunks;
}

/** The chunk holding a sector (chunks sorted by first sector), by binary search as qemu. */
export function chunkOf(chunks: readonly Chunk[], sector: number): Chunk | undefined {
  let low = 0;
  let high = chunks.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const chunk = chunks[middle]!;
    if (chunk.firstSector > sector) high = middle - 1;
    else if (chunk.firstSector + chunk.sectorCount > sector) return chunk;
    else low = middle + 1;
  }
  return undefined;
}
