// Damage made on purpose, for the check tests: a qcow2 file's refcount entries, L1 and L2
// entries edited in place (plain file I/O, no parsing beyond the header fields needed).
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

const OFFSET_MASK = 0x00fffffffffffe00n;

interface Layout {
  readonly clusterSize: number;
  readonly refcountBits: number;
  readonly l1Offset: number;
  readonly refcountTableOffset: number;
  readonly extendedL2: boolean;
}

function withFile<T>(path: string, body: (read: (at: number, length: number) => Buffer, write: (at: number, bytes: Buffer) => void, layout: Layout) => T): T {
  const fd = openSync(path, 'r+');
  try {
    const read = (at: number, length: number) => {
      const buffer = Buffer.alloc(length);
      readSync(fd, buffer, 0, length, at);
      return buffer;
    };
    const write = (at: number, bytes: Buffer) => void writeSync(fd, bytes, 0, bytes.length, at);
    const head = read(0, 104);
    const version = head.readUInt32BE(4);
    const layout: Layout = {
      clusterSize: 2 ** head.readUInt32BE(20),
      refcountBits: version === 3 ? 2 ** head.readUInt32BE(96) : 16,
      l1Offset: Number(head.readBigUInt64BE(40)),
      refcountTableOffset: Number(head.readBigUInt64BE(48)),
      extendedL2: version === 3 && (head.readBigUInt64BE(72) & 16n) !== 0n,
    };
    return body(read, write, layout);
  } finally {
    closeSync(fd);
  }
}

/** Set the stored refcount of host cluster `cluster` (any entry width). */
export function setRefcount(path: string, cluster: number, value: number): void {
  withFile(path, (read, write, { clusterSize, refcountBits, refcountTableOffset }) => {
    const perBlock = (clusterSize * 8) / refcountBits;
    const block = Number(read(refcountTableOffset + Math.floor(cluster / perBlock) * 8, 8).readBigUInt64BE() & OFFSET_MASK);
    if (block === 0) throw new Error(`no refcount block covers cluster ${cluster}`);
    const index = cluster % perBlock;
    if (refcountBits < 8) {
      const at = block + Math.floor((index * refcountBits) / 8);
      const shift = (index * refcountBits) % 8;
      const mask = ((1 << refcountBits) - 1) << shift;
      const byte = read(at, 1)[0]!;
      write(at, Buffer.from([(byte & ~mask) | ((value << shift) & mask)]));
      return;
    }
    const bytes = refcountBits / 8;
    const buffer = Buffer.alloc(bytes);
    let v = BigInt(value);
    for (let i = bytes - 1; i >= 0; i--, v >>= 8n) buffer[i] = Number(v & 0xffn);
    write(block + index * bytes, buffer);
  });
}

/** The 64-bit big-endian entry at the offset `at` gives; with `value`, replaced. */
function tableEntry(path: string, at: (layout: Layout, read: (at: number, length: number) => Buffer) => number, value?: bigint): bigint {
  return withFile(path, (read, write, layout) => {
    const offset = at(layout, read);
    const old = read(offset, 8).readBigUInt64BE();
    if (value !== undefined) {
      const buffer = Buffer.alloc(8);
      buffer.writeBigUInt64BE(value);
      write(offset, buffer);
    }
    return old;
  });
}

/** The L1 entry at `index`; with `value`, replaced. */
export function l1Entry(path: string, index: number, value?: bigint): bigint {
  return tableEntry(path, (layout) => layout.l1Offset + index * 8, value);
}

/** The L2 entry (word 0, or 1 for an extended entry's bitmap) for guest cluster `index` under L1 entry 0; with `value`, replaced. */
export function l2Entry(path: string, index: number, value?: bigint, word = 0): bigint {
  return tableEntry(
    path,
    ({ l1Offset, extendedL2 }, read) => Number(read(l1Offset, 8).readBigUInt64BE() & OFFSET_MASK) + index * (extendedL2 ? 16 : 8) + word * 8,
    value,
  );
}

/** Refcount table entry `index`; with `value`, replaced. */
export function refcountTableEntry(path: string, index: number, value?: bigint): bigint {
  return tableEntry(path, (layout) => layout.refcountTableOffset + index * 8, value);
}

/** The host cluster of guest cluster `index` (under L1 entry 0, not compressed). */
export function hostCluster(path: string, index: number): number {
  const clusterSize = withFile(path, (_read, _write, layout) => layout.clusterSize);
  return Number((l2Entry(path, index) & OFFSET_MASK) / BigInt(clusterSize));
}

/** Set the corrupt bit (incompatible feature bit 1), as QEMU does when it finds corruption. */
export function markCorrupt(path: string): void {
  withFile(path, (read, write) => {
    const bits = read(72, 8).readBigUInt64BE(0) | 2n;
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64BE(bits);
    write(72, bytes);
  });
}

/** The 64-bit big-endian field at byte `at` of the file (a header field, a snapshot table's); with `value`, replaced. */
export function field64(path: string, at: number, value?: bigint): bigint {
  return tableEntry(path, () => at, value);
}
