// The metadata overlap check (QEMU's overlap-check=cached): crafted images whose L2 entries or
// refcounts point into metadata. Each guest write that would land there is refused with EIO, the
// metadata bytes stay as they were, the image is marked corrupt (qemu-img info says so) and
// QEMU's message is printed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, readSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BlockNode } from '@tessera/core';
import { withoutFlushes } from '../../../core/src/block/unsafe-cache.ts';
import { fileProtocol } from '../../block-file/src/file-protocol.ts';
import { qcow2Format } from '../src/format.ts';
import { field64, l1Entry, l2Entry, refcountTableEntry, setRefcount } from './qcow2-edit.ts';

const CS = 65536;
const COPIED = 1n << 63n;
let dir: string;
const qemu = (tool: string, ...args: string[]) => execFileSync(tool, args, { cwd: dir, encoding: 'utf8' });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-overlap-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function open(path: string, cacheUnsafe: boolean): Promise<BlockNode> {
  const file = await fileProtocol.open(path, { readOnly: false, driverOptions: {} });
  return qcow2Format.open(cacheUnsafe ? withoutFlushes(file) : file, { readOnly: false, driverOptions: {}, ...(cacheUnsafe ? { cacheUnsafe } : {}) });
}

function bytesAt(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, offset);
    return buffer;
  } finally {
    closeSync(fd);
  }
}

/**
 * QEMU's layout for a 64 MiB image with guest cluster 0 written: header 0, refcount table 0x10000,
 * refcount block 0x20000, L1 0x30000, L2 0x40000, data 0x50000; with `snapshot`, a snapshot taken
 * after that (its L1 table and the snapshot table follow).
 */
function base(name: string, snapshot = false): { path: string; snapshotL1: number; snapshotTable: number } {
  const path = join(dir, name);
  qemu('qemu-img', 'create', '-q', '-f', 'qcow2', path, '64M');
  qemu('qemu-io', '-c', 'write -P 0x11 0 64k', path);
  if (!snapshot) return { path, snapshotL1: 0, snapshotTable: 0 };
  qemu('qemu-img', 'snapshot', '-c', 'one', path);
  const header = bytesAt(path, 0, 72);
  const snapshotTable = Number(header.readBigUInt64BE(64));
  const snapshotL1 = Number(bytesAt(path, snapshotTable, 8).readBigUInt64BE(0));
  return { path, snapshotL1, snapshotTable };
}

const cases: {
  name: string;
  /** The metadata QEMU's message names (with cache=unsafe: its own when it differs). */
  kind: string | { readonly safe: string; readonly unsafe: string };
  snapshot?: boolean;
  /** Damage the image; returns the metadata cluster the write would land on. */
  craft: (path: string, image: { snapshotL1: number; snapshotTable: number }) => number;
  /** The guest write: at `offset`, `length` bytes. */
  write: [number, number];
  /** Bytes of the target cluster the allocation rightly changes (its own refcount, raised again). */
  allocated?: [number, number];
}[] = [
  { name: 'an L2 entry at the L1 table (in place)', kind: 'active L1 table', craft: (p) => (l2Entry(p, 0, 0x30000n | COPIED), 0x30000), write: [4096, 512] },
  { name: 'an L2 entry at the refcount block', kind: 'refcount block', craft: (p) => (l2Entry(p, 0, 0x20000n | COPIED), 0x20000), write: [0, CS] },
  { name: 'an L2 entry at its own L2 table', kind: 'active L2 table', craft: (p) => (l2Entry(p, 0, 0x40000n | COPIED), 0x40000), write: [0, 512] },
  { name: 'an L2 entry at the refcount table', kind: 'refcount table', craft: (p) => (l2Entry(p, 0, 0x10000n | COPIED), 0x10000), write: [0, CS] },
  {
    name: 'an L2 entry at the snapshot table (through a copied L2 table)',
    kind: 'snapshot table',
    snapshot: true,
    craft: (p, { snapshotTable }) => (l2Entry(p, 1, BigInt(snapshotTable) | COPIED), snapshotTable),
    write: [CS, 512],
  },
  {
    name: "an L2 entry at a snapshot's L1 table",
    kind: 'inactive L1 table',
    snapshot: true,
    craft: (p, { snapshotL1 }) => (l2Entry(p, 1, BigInt(snapshotL1) | COPIED), snapshotL1),
    write: [CS, CS],
  },
  {
    // The active L1 table is the snapshot's (its entry without COPIED): the writer's private copy
    // of the shared L2 table is new, but pointing the L1 entry at it would write into the snapshot's.
    name: "the active L1 table on a snapshot's (an L1 entry rewritten)",
    kind: 'inactive L1 table',
    snapshot: true,
    craft: (p, { snapshotL1 }) => (field64(p, 40, BigInt(snapshotL1)), field64(p, snapshotL1, 0x40000n), snapshotL1),
    write: [0, 512],
  },
  { name: 'an L1 entry at the refcount table (entries written there)', kind: 'refcount table', craft: (p) => (l1Entry(p, 0, 0x10000n | COPIED), 0x10000), write: [0, 512] },
  { name: 'refcounts that call the header free (a new data cluster)', kind: 'qcow2_header', craft: (p) => (setRefcount(p, 0, 0), 0), write: [CS, CS] },
  { name: 'refcounts that call the L1 table free (a partial write)', kind: 'active L1 table', craft: (p) => (setRefcount(p, 3, 0), 0x30000), write: [CS + 512, 512] },
  {
    // Refcount updates would land on the L1 table; under cache=unsafe they wait in memory, and the
    // new cluster the bogus refcounts call free (the refcount table's) is refused first.
    name: 'a refcount table entry at the L1 table',
    kind: { safe: 'active L1 table', unsafe: 'refcount table' },
    craft: (p) => (refcountTableEntry(p, 0, 0x30000n), 0x30000),
    write: [CS, 512],
  },
  { name: 'refcounts that call the refcount block free (a new L2 table)', kind: 'refcount block', craft: (p) => (setRefcount(p, 2, 0), 0x20000), write: [32 * 2 ** 20, CS], allocated: [4, 6] },
];

describe.each([false, true])('overlap check (cache=unsafe: %s)', (cacheUnsafe) => {
  it.each(cases)('$name: refused, metadata intact, marked corrupt', async ({ name, kind, snapshot, craft, write, allocated }) => {
    const image = base(`${name.replace(/\W+/g, '-')}-${cacheUnsafe}.qcow2`, snapshot);
    const target = craft(image.path, image);
    const before = bytesAt(image.path, target, CS);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const node = await open(image.path, cacheUnsafe);
      const [offset, length] = write;
      const error = await node.write(offset, new Uint8Array(length).fill(0x5a)).then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(error?.code).toBe('EIO');
      expect(error?.message).toBe('Input/output error');
      // The node takes no more writes, and says nothing more.
      await expect(node.write(0, new Uint8Array(512))).rejects.toMatchObject({ code: 'EIO' });
      await node.close();
      const printed = stderr.mock.calls.map(([text]) => String(text));
      const named = typeof kind === 'string' ? kind : cacheUnsafe ? kind.unsafe : kind.safe;
      expect(printed).toEqual([`qcow2: Marking image as corrupt: Preventing invalid write on metadata (overlaps with ${named}); further corruption events will be suppressed\n`]);
    } finally {
      stderr.mockRestore();
    }
    const after = bytesAt(image.path, target, CS);
    if (allocated) after.fill(0, ...allocated);
    if (target !== 0) expect(after.equals(before)).toBe(true);
    else expect(bytesAt(image.path, 104, CS - 104).equals(before.subarray(104))).toBe(true); // the header but its feature bits
    const info = JSON.parse(qemu('qemu-img', 'info', '--output=json', image.path)) as { 'format-specific': { data: { corrupt: boolean } } };
    expect(info['format-specific'].data.corrupt).toBe(true);
    await expect(open(image.path, false)).rejects.toThrow(/marked corrupt/);
  });
});

describe('overlap check on a sound image', () => {
  it('costs nothing in behaviour: writes across new and old clusters, snapshots and a resize, check clean', async () => {
    const { path } = base('sound.qcow2', true);
    const node = await open(path, false);
    for (let i = 0; i < 64; i++) await node.write(i * 3 * CS + 512, new Uint8Array(CS + 4096).fill(i + 1));
    await node.internalSnapshots!.create('two');
    await node.write(0, new Uint8Array(4 * CS).fill(9));
    await node.resize!(128 * 2 ** 20, { shrink: false });
    await node.write(100 * 2 ** 20, new Uint8Array(CS).fill(7));
    await node.close();
    expect(qemu('qemu-img', 'check', path)).toContain('No errors were found on the image.');
  });
});
