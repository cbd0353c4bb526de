// The extent of one zstd frame (RFC 8878, section 3.1.1), read from its headers without
// decompressing: qcow2 records a compressed cluster's length only to whole sectors, so the frame
// is followed by padding or the next cluster's bytes, and a decoder must be handed the frame alone.
// Every field is distrusted: the walk is bounded by the bytes given.
import { codedError } from './errors.ts';

const FRAME_MAGIC = 0xfd2fb528;
const BLOCK_HEADER = 3;
const CHECKSUM = 4;
const MAX_BLOCK = 128 * 1024;

export interface ZstdFrame {
  /** Bytes from the frame's start through its last block (and checksum). */
  readonly length: number;
  /** The content size the frame header declares, if it declares one. */
  readonly contentSize: number | undefined;
}

const corrupt = (why: string) => codedError(`zstd frame: ${why}`, 'corrupt-image');

export function zstdFrame(data: Uint8Array): ZstdFrame {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 6 || view.getUint32(0, true) !== FRAME_MAGIC) throw corrupt('no zstd frame magic');
  const descriptor = data[4]!;
  if (descriptor & 0x08) throw corrupt('reserved bit set in the frame header');
  const singleSegment = (descriptor >> 5) & 1;
  const checksum = (descriptor >> 2) & 1;
  const dictionaryIdBytes = [0, 1, 2, 4][descriptor & 3]!;
  const fcsFlag = descriptor >> 6;
  const contentSizeBytes = fcsFlag === 0 ? singleSegment : [0, 2, 4, 8][fcsFlag]!;
  let at = 5 + (singleSegment ? 0 : 1) + dictionaryIdBytes;
  if (dictionaryIdBytes && readLe(data, 5 + (singleSegment ? 0 : 1), dictionaryIdBytes) !== 0) {
    throw corrupt('the frame needs a dictionary');
  }
  let contentSize: number | undefined;
  if (contentSizeBytes) {
    if (at + contentSizeBytes > data.length) throw corrupt('frame header truncated');
    contentSize = readLe(data, at, contentSizeBytes) + (contentSizeBytes === 2 ? 256 : 0);
    at += contentSizeBytes;
  }
  for (;;) {
    if (at + BLOCK_HEADER > data.length) throw corrupt('frame truncated');
    const header = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16);
    const last = header & 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === 3) throw corrupt('reserved block type');
    if (size > MAX_BLOCK) throw corrupt(`block of ${size} bytes`);
    at += BLOCK_HEADER + (type === 1 ? 1 : size); // an RLE block stores its one byte
    if (at > data.length) throw corrupt('frame truncated');
    if (last) break;
  }
  if (checksum) at += CHECKSUM;
  if (at > data.length) throw corrupt('frame truncated');
  return { length: at, contentSize };
}

/** Little-endian unsigned integer of 1–8 bytes; beyond 2^53 it is only "too large", which callers refuse. */
function readLe(data: Uint8Array, at: number, bytes: number): number {
  let value = 0;
  for (let i = bytes - 1; i >= 0; i--) value = value * 256 + data[at + i]!;
  return value;
}
