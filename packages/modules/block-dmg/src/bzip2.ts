/**
 * A bzip2 decompressor, written from the format's description (Seward's bzip2 1.0 file format:
 * stream header, blocks of Huffman-coded MTF/RLE2 symbols over a Burrows-Wheeler transform, an
 * initial run-length stage, CRC-32 per block and per stream). For DMG's UDBZ chunks, whose size
 * after decompression is known: output beyond `expected` bytes is an error, so a forged chunk
 * cannot make it allocate more; every table index and count is checked.
 */

export class Bzip2Error extends Error {}

const BLOCK_MAGIC = 0x314159265359;
const END_MAGIC = 0x177245385090;
const MAX_GROUPS = 6;
const MAX_CODE_LENGTH = 20;
const GROUP_SIZE = 50;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    table[i] = c >>> 0;
  }
  return table;
})();

class BitReader {
  private at = 0;
  private bits = 0;
  private count = 0;

  constructor(private readonly input: Uint8Array) {}

  read(n: number): number {
    let value = 0;
    for (let i = 0; i < n; i++) {
      if (this.count === 0) {
        if (this.at >= this.input.length) throw new Bzip2Error('the compressed data ends early');
        this.bits = this.input[this.at++]!;
        this.count = 8;
      }
      this.count--;
      value = value * 2 + ((this.bits >> this.count) & 1);
    }
    return value;
  }

  bit(): number {
    return this.read(1);
  }

  /** Skip to the next byte boundary (streams follow each other byte aligned). */
  align(): void {
    this.count = 0;
  }

  get atEnd(): boolean {
    return this.at >= this.input.length && this.count === 0;
  }
}

/** Canonical Huffman decoding table of one group, by code length. */
interface HuffmanTable {
  readonly limit: Int32Array; // largest code of each length, or -1
  readonly base: Int32Array; // index of the first symbol of each length minus its first code
  readonly symbols: Uint16Array;
  readonly minLength: number;
  readonly maxLength: number;
}

function huffmanTable(lengths: Uint8Array, symbolCount: number): HuffmanTable {
  let minLength = MAX_CODE_LENGTH;
  let maxLength = 0;
  for (let i = 0; i < symbolCount; i++) {
    minLength = Math.min(minLength, lengths[i]!);
    maxLength = Math.max(maxLength, lengths[i]!);
  }
  const symbols = new Uint16Array(symbolCount);
  const limit = new Int32Array(MAX_CODE_LENGTH + 2).fill(-1);
  const base = new Int32Array(MAX_CODE_LENGTH + 2);
  let index = 0;
  let code = 0;
  for (let length = minLength; length <= maxLength; length++) {
    const first = index;
    for (let s = 0; s < symbolCount; s++) if (lengths[s] === length) symbols[index++] = s;
    code += index - first;
    limit[length] = code - 1;
    base[length] = first - (code - (index - first));
    code <<= 1;
  }
  return { limit, base, symbols, minLength, maxLength };
}

function decodeSymbol(reader: BitReader, table: HuffmanTable): number {
  let length = table.minLength;
  let code = reader.read(length);
  while (length <= table.maxLength) {
    if (code <= table.limit[length]!) {
      const index = table.base[length]! + code;
      if (index < 0 || index >= table.symbols.length) break;
      return table.symbols[index]!;
    }
    code = code * 2 + reader.bit();
    length++;
  }
  throw new Bzip2Error('a Huffman code is invalid');
}

/** Output with a fixed capacity: writing past it is an error (the chunk's size is known). */
class Output {
  readonly bytes: Uint8Array;
  length = 0;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
  }

  push(byte: number, crc: { value: number }): void {
    if (this.length >= this.bytes.length) throw new Bzip2Error(`the data decompresses to more than ${this.bytes.length} bytes`);
    this.bytes[this.length++] = byte;
    crc.value = ((crc.value << 8) ^ CRC_TABLE[((crc.value >>> 24) ^ byte) & 0xff]!) >>> 0;
  }
}

/** Decompress one or more concatenated bzip2 streams into exactly `expected` bytes. */
export function bunzip2(input: Uint8Array, expected: number): Uint8Array {
  const reader = new BitReader(input);
  const output = new Output(expected);
  do {
    readStream(reader, output);
    reader.align();
  } while (!reader.atEnd && output.length < expected);
  if (output.length !== expected) throw new Bzip2Error(`the data decompresses to ${output.length} bytes, not ${expected}`);
  return output.bytes;
}

function readStream(reader: BitReader, output: Output): void {
  if (reader.read(8) !== 0x42 || reader.read(8) !== 0x5a || reader.read(8) !== 0x68) throw new Bzip2Error('not bzip2 data (bad magic)');
  const level = reader.read(8) - 0x30;
  if (level < 1 || level > 9) throw new Bzip2Error('not bzip2 data (bad block size)');
  const maxBlock = level * 100_000;
  const tt = new Uint32Array(maxBlock);
  let streamCrc = 0;
  for (;;) {
    const magic = reader.read(24) * 0x1000000 + reader.read(24);
    const storedCrc = reader.read(32);
    if (magic === END_MAGIC) {
      if (storedCrc !== streamCrc >>> 0) throw new Bzip2Error('the stream CRC does not match');
      return;
    }
    if (magic !== BLOCK_MAGIC) throw new Bzip2Error('a block header is invalid');
    const blockCrc = readBlock(reader, output, tt, maxBlock);
    if (blockCrc !== storedCrc) throw new Bzip2Error('a block CRC does not match');
    streamCrc = (((streamCrc << 1) | (streamCrc >>> 31)) ^ blockCrc) >>> 0;
  }
}

function readBlock(reader: BitReader, output: Output, tt: Uint32Array, maxBlock: number): number {
  if (reader.bit()) throw new Bzip2Error('randomised blocks are not supported (obsolete bzip2 0.9.0 data)');
  const origin = reader.read(24);
  // The symbols in use: a 16-bit map of 16-byte ranges, then a 16-bit map per range.
  const used: number[] = [];
  const ranges = reader.read(16);
  for (let r = 0; r < 16; r++) {
    if (!(ranges & (0x8000 >> r))) continue;
    const bits = reader.read(16);
    for (let b = 0; b < 16; b++) if (bits & (0x8000 >> b)) used.push(r * 16 + b);
  }
  if (used.length === 0) throw new Bzip2Error('a block uses no symbols');
  const alphabet = used.length + 2; // RUNA, RUNB, MTF positions 1..n-1, EOB
  const groups = reader.read(3);
  if (groups < 2 || groups > MAX_GROUPS) throw new Bzip2Error('a block has an invalid number of Huffman groups');
  const selectorCount = reader.read(15);
  if (selectorCount === 0) throw new Bzip2Error('a block has no selectors');
  const mtfGroups = Array.from({ length: groups }, (_, i) => i);
  const selectors = new Uint8Array(selectorCount);
  for (let i = 0; i < selectorCount; i++) {
    let j = 0;
    while (reader.bit()) if (++j >= groups) throw new Bzip2Error('a selector is invalid');
    const group = mtfGroups.splice(j, 1)[0]!;
    mtfGroups.unshift(group);
    selectors[i] = group;
  }
  const tables: HuffmanTable[] = [];
  for (let g = 0; g < groups; g++) {
    const lengths = new Uint8Array(alphabet);
    let length = reader.read(5);
    for (let s = 0; s < alphabet; s++) {
      for (;;) {
        if (length < 1 || length > MAX_CODE_LENGTH) throw new Bzip2Error('a Huffman code length is invalid');
        if (!reader.bit()) break;
        length += reader.bit() ? -1 : 1;
      }
      lengths[s] = length;
    }
    tables.push(huffmanTable(lengths, alphabet));
  }

  // Huffman symbols -> MTF/RLE2 -> the BWT's last column (byte counts and tt).
  const mtf = used.slice();
  const counts = new Uint32Array(256);
  const endOfBlock = alphabet - 1;
  let size = 0;
  let run = 0;
  let runWeight = 1;
  let selector = 0;
  let left = 0;
  let table = tables[0]!;
  const flushRun = () => {
    if (run === 0) return;
    const byte = mtf[0]!;
    if (size + run > maxBlock) throw new Bzip2Error('a block is larger than its declared size');
    counts[byte]! += run;
    tt.fill(byte, size, size + run);
    size += run;
    run = 0;
    runWeight = 1;
  };
  for (;;) {
    if (left === 0) {
      if (selector >= selectorCount) throw new Bzip2Error('a block runs out of selectors');
      table = tables[selectors[selector++]!]!;
      left = GROUP_SIZE;
    }
    left--;
    const symbol = decodeSymbol(reader, table);
    if (symbol <= 1) {
      // RUNA/RUNB: a bijective base-2 run length of the front byte.
      run += runWeight << symbol;
      runWeight <<= 1;
      if (run > maxBlock) throw new Bzip2Error('a run is longer than the block');
      continue;
    }
    flushRun();
    if (symbol === endOfBlock) break;
    const position = symbol - 1;
    if (position >= mtf.length) throw new Bzip2Error('an MTF index is invalid');
    const byte = mtf.splice(position, 1)[0]!;
    mtf.unshift(byte);
    if (size >= maxBlock) throw new Bzip2Error('a block is larger than its declared size');
    counts[byte]!++;
    tt[size++] = byte;
  }
  if (origin >= size) throw new Bzip2Error('a block origin is out of range');

  // Inverse BWT: tt[i] gets the index of the next byte in its high bits.
  const starts = new Uint32Array(256);
  for (let b = 0, sum = 0; b < 256; b++) {
    starts[b] = sum;
    sum += counts[b]!;
  }
  for (let i = 0; i < size; i++) {
    const byte = tt[i]! & 0xff;
    tt[starts[byte]!++]! |= i << 8;
  }

  // Undo the initial run-length stage (4 equal bytes then a repeat count) while writing out.
  const crc = { value: 0xffffffff };
  let position = tt[origin]! >>> 8;
  let previous = -1;
  let same = 0;
  for (let i = 0; i < size; i++) {
    const entry = tt[position]!;
    const byte = entry & 0xff;
    position = entry >>> 8;
    if (same === 4) {
      for (let k = 0; k < byte; k++) output.push(previous, crc);
      same = 0;
      previous = -1;
      continue;
    }
    if (byte === previous) same++;
    else {
      previous = byte;
      same = 1;
    }
    output.push(byte, crc);
  }
  return ~crc.value >>> 0;
}
