// Internal snapshots made, applied and deleted here, judged by qemu-img: `check` finds the image
// clean (refcounts and COPIED flags exact), `snapshot -l` lists what we made, and the guest bytes
// after applying a snapshot (with qemu-img or here) are the bytes at its creation. And the other
// way round: snapshots qemu-img made are applied and deleted here.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockNode } from '@tessera/core';
import { fileProtocol } from '../../block-file/src/file-protocol.ts';
import { qcow2Format } from '../src/format.ts';

let dir: string;
const SIZE = 4 * 2 ** 20;
const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { cwd: dir, encoding: 'utf8' });
const qemuIo = (image: string, ...commands: string[]) =>
  execFileSync('qemu-io', ['-f', 'qcow2', ...commands.flatMap((command) => ['-c', command]), image], { cwd: dir, encoding: 'utf8' });

/** `qemu-img check`: exit code and output. */
function check(image: string): { code: number | null; out: string } {
  const result = spawnSync('qemu-img', ['check', image], { cwd: dir, encoding: 'utf8' });
  return { code: result.status, out: result.stdout + result.stderr };
}
const clean = { code: 0, out: expect.stringContaining('No errors were found on the image.') };

/** The guest bytes as qemu-img reads them. */
function guest(image: string): Buffer {
  const out = `${image}.raw`;
  qemuImg('convert', '-O', 'raw', image, out);
  const bytes = readFileSync(join(dir, out));
  rmSync(join(dir, out));
  return bytes;
}

/** Id and name of each snapshot as qemu-img lists them (JSON). */
function qemuList(image: string): { id: string; name: string }[] {
  const info = JSON.parse(qemuImg('info', '--output=json', image)) as { snapshots?: { id: string; name: string }[] };
  return (info.snapshots ?? []).map(({ id, name }) => ({ id, name }));
}

async function open(image: string, readOnly = false): Promise<BlockNode> {
  const file = await fileProtocol.open(join(dir, image), { readOnly, driverOptions: {} });
  return qcow2Format.open(file, {
    readOnly,
    driverOptions: {},
    openRelative: (name, o) => fileProtocol.open(join(dir, name), { readOnly: o.readOnly, driverOptions: {} }),
  });
}

async function read(node: BlockNode): Promise<Buffer> {
  const bytes = Buffer.alloc(node.size);
  await node.read(0, bytes);
  return bytes;
}

/** Writes through the driver, mirrored into `model` (the guest bytes we expect). */
async function writeAll(node: BlockNode, model: Buffer, writes: readonly [number, number][]): Promise<void> {
  for (const [offset, length] of writes) {
    const data = randomBytes(length);
    await node.write(offset, data);
    data.copy(model, offset);
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-snapshot-'));
  writeFileSync(join(dir, 'backing.raw'), randomBytes(SIZE));
  // Half random, half zero: `convert -c` makes compressed clusters of the first half.
  writeFileSync(join(dir, 'source.raw'), Buffer.concat([randomBytes(SIZE / 2), Buffer.alloc(SIZE / 2)]));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Case {
  readonly name: string;
  /** Makes `image` with some content written by qemu. */
  readonly make: (image: string) => void;
}

const qemuWrites = (image: string) => qemuIo(image, 'write -P 0x11 0 100k', 'write -P 0x22 1M 64k', 'write -P 0x33 3M 8k');
const CASES: readonly Case[] = [
  { name: 'v3', make: (image) => (qemuImg('create', '-f', 'qcow2', image, String(SIZE)), qemuWrites(image)) },
  { name: 'v2 (compat=0.10)', make: (image) => (qemuImg('create', '-f', 'qcow2', '-o', 'compat=0.10', image, String(SIZE)), qemuWrites(image)) },
  { name: '4k clusters, several L2 tables', make: (image) => (qemuImg('create', '-f', 'qcow2', '-o', 'cluster_size=4k', image, String(SIZE)), qemuWrites(image)) },
  {
    name: 'extended L2',
    make: (image) => (qemuImg('create', '-f', 'qcow2', '-o', 'extended_l2=on,cluster_size=64k', image, String(SIZE)), qemuWrites(image)),
  },
  { name: 'compressed clusters', make: (image) => void qemuImg('convert', '-c', '-O', 'qcow2', 'source.raw', image) },
  {
    name: 'backing file',
    make: (image) => (qemuImg('create', '-f', 'qcow2', '-b', 'backing.raw', '-F', 'raw', image, String(SIZE)), qemuWrites(image)),
  },
  { name: 'lazy refcounts', make: (image) => (qemuImg('create', '-f', 'qcow2', '-o', 'lazy_refcounts=on', image, String(SIZE)), qemuWrites(image)) },
];

/** Whole clusters, pieces of clusters and of subclusters, across L2 table boundaries with 4k clusters. */
const WRITES_A: readonly [number, number][] = [[0, 4096], [70_000, 3000], [1_048_576 + 512, 65536], [2_093_056, 8192], [3 * 2 ** 20 + 100, 300]];
const WRITES_B: readonly [number, number][] = [[4096, 65536], [65_536, 512], [1_048_576, 200_000], [4 * 2 ** 20 - 1000, 1000]];

describe.each(CASES)('internal snapshots: $name', ({ name, make }) => {
  const base = name.replace(/\W+/g, '_');

  it('made here: qemu-img lists them, checks clean and applies them to the content at creation', async () => {
    const image = `${base}-ours.qcow2`;
    make(image);
    const model = guest(image);
    const node = await open(image);
    await node.internalSnapshots!.create('first');
    const atFirst = Buffer.from(model);
    await writeAll(node, model, WRITES_A); // through L2 tables and clusters the snapshot shares
    await node.internalSnapshots!.create('second');
    const atSecond = Buffer.from(model);
    await writeAll(node, model, WRITES_B);
    expect((await read(node)).equals(model)).toBe(true);
    await node.close();

    expect(check(image)).toEqual(clean);
    expect(qemuList(image)).toEqual([{ id: '1', name: 'first' }, { id: '2', name: 'second' }]);
    expect(guest(image).equals(model)).toBe(true);
    for (const [snapshot, content] of [['first', atFirst], ['2', atSecond]] as const) {
      const copy = `${base}-qemu-applies-${snapshot}.qcow2`;
      copyFileSync(join(dir, image), join(dir, copy));
      qemuImg('snapshot', '-a', snapshot, copy);
      expect(check(copy)).toEqual(clean);
      expect(guest(copy).equals(content)).toBe(true);
    }

    // Applied here: the content at creation, then writes over it, then deletion of both.
    const again = await open(image);
    await again.internalSnapshots!.apply('first');
    expect((await read(again)).equals(atFirst)).toBe(true);
    const after = Buffer.from(atFirst);
    await writeAll(again, after, WRITES_B);
    await again.internalSnapshots!.delete('first');
    await again.close();
    expect(check(image)).toEqual(clean);
    expect(qemuList(image)).toEqual([{ id: '2', name: 'second' }]);
    expect(guest(image).equals(after)).toBe(true);

    const last = await open(image);
    await last.internalSnapshots!.apply('second');
    expect((await read(last)).equals(atSecond)).toBe(true);
    await last.internalSnapshots!.delete('2');
    await writeAll(last, atSecond, WRITES_A); // nothing shared any more: written in place
    await last.close();
    expect(check(image)).toEqual(clean);
    expect(qemuList(image)).toEqual([]);
    expect(guest(image).equals(atSecond)).toBe(true);
  });

  it('made by qemu-img: applied and deleted here', async () => {
    const image = `${base}-theirs.qcow2`;
    make(image);
    qemuImg('snapshot', '-c', 'q1', image);
    const atQ1 = guest(image);
    qemuIo(image, 'write -P 0x44 0 200k', 'write -P 0x55 2M 4k');
    qemuImg('snapshot', '-c', 'q2', image);
    const atQ2 = guest(image);

    const node = await open(image);
    await node.internalSnapshots!.apply('q1');
    expect((await read(node)).equals(atQ1)).toBe(true);
    const model = Buffer.from(atQ1);
    await writeAll(node, model, WRITES_A);
    await node.close();
    expect(check(image)).toEqual(clean);
    expect(guest(image).equals(model)).toBe(true);

    const again = await open(image);
    await again.internalSnapshots!.delete('q1');
    await again.close();
    expect(check(image)).toEqual(clean);
    expect(qemuList(image)).toEqual([{ id: '2', name: 'q2' }]);
    expect(guest(image).equals(model)).toBe(true);
    qemuImg('snapshot', '-a', 'q2', image);
    expect(guest(image).equals(atQ2)).toBe(true);
    expect(check(image)).toEqual(clean);
  });
});

describe('random snapshot operations', () => {
  it.each([['cluster_size=4k'], ['cluster_size=16k,extended_l2=on'], ['compat=0.10,cluster_size=8k']])(
    '-o %s: writes, creates, applies and deletes in random order; every snapshot keeps its bytes',
    async (options) => {
      const image = `random-${options.replace(/\W+/g, '_')}.qcow2`;
      const size = 2 * 2 ** 20;
      qemuImg('create', '-f', 'qcow2', '-o', options, image, String(size));
      const next = seeded(options.length * 7919);
      const model = Buffer.alloc(size);
      const saved = new Map<string, Buffer>();
      const done = { write: 0, create: 0, apply: 0, delete: 0 };
      let node = await open(image);
      for (let step = 0; step < 50; step++) {
        const pick = next();
        const names = [...saved.keys()];
        if (pick < 0.4) {
          done.write++;
          const length = 1 + Math.floor(next() * 40_000);
          const offset = Math.floor(next() * (size - length));
          await writeAll(node, model, [[offset, length]]);
        } else if (pick < 0.6 || names.length < 2) {
          done.create++;
          const name = `s${step}`;
          await node.internalSnapshots!.create(name);
          saved.set(name, Buffer.from(model));
        } else if (pick < 0.8) {
          done.apply++;
          const name = names[Math.floor(next() * names.length)]!;
          await node.internalSnapshots!.apply(name);
          saved.get(name)!.copy(model);
        } else {
          done.delete++;
          const name = names[Math.floor(next() * names.length)]!;
          await node.internalSnapshots!.delete(name);
          saved.delete(name);
        }
        if (step % 10 === 9) {
          // Reopened now and then: what is on disk, not only what is cached, must be right.
          await node.close();
          expect(check(image), `step ${step}`).toEqual(clean);
          node = await open(image);
        }
      }
      expect(Object.values(done).every((count) => count >= 3), JSON.stringify(done)).toBe(true);
      expect((await read(node)).equals(model)).toBe(true);
      await node.close();
      expect(check(image)).toEqual(clean);
      expect(qemuList(image).map(({ name }) => name)).toEqual([...saved.keys()]);
      for (const [name, content] of saved) {
        const copy = `${image}.${name}.qcow2`;
        copyFileSync(join(dir, image), join(dir, copy));
        qemuImg('snapshot', '-a', name, copy);
        expect(guest(copy).equals(content), name).toBe(true);
      }
    },
    60_000,
  );
});

/** A seeded generator (mulberry32), so a failure can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('internal snapshot details', () => {
  it('ids continue after the largest numeric one; equal names are allowed, as in qemu-img', async () => {
    const image = 'ids.qcow2';
    qemuImg('create', '-f', 'qcow2', image, '1M');
    qemuImg('snapshot', '-c', 'a', image);
    qemuImg('snapshot', '-c', 'b', image);
    qemuImg('snapshot', '-d', 'a', image); // leaves id 2
    const node = await open(image);
    await node.internalSnapshots!.create('b');
    await node.internalSnapshots!.create('');
    await node.close();
    expect(qemuList(image)).toEqual([{ id: '2', name: 'b' }, { id: '3', name: 'b' }, { id: '4', name: '' }]);
    expect(check(image)).toEqual(clean);
  });

  it('a snapshot taken before the image grew brings its size back; the table keeps qemu-img’s extra data', async () => {
    const image = 'grown.qcow2';
    qemuImg('create', '-f', 'qcow2', image, '1M');
    qemuIo(image, 'write -P 0x66 0 64k');
    const node = await open(image);
    await node.internalSnapshots!.create('small');
    await node.close();
    qemuImg('resize', image, '3M');
    qemuIo(image, 'write -P 0x77 2M 64k');
    const again = await open(image);
    await again.internalSnapshots!.apply('small');
    expect(again.size).toBe(2 ** 20);
    await again.close();
    const info = JSON.parse(qemuImg('info', '--output=json', image)) as { 'virtual-size': number };
    expect(info['virtual-size']).toBe(2 ** 20);
    expect(check(image)).toEqual(clean);
    expect(guest(image).subarray(0, 65536).every((byte) => byte === 0x66)).toBe(true);
  });

  it('a snapshot whose L1 table is larger than the active one gets a new active table', async () => {
    // QEMU never shrinks an L1 table; another writer may. Made here by cutting the header's L1 size.
    const image = 'small-l1.qcow2';
    qemuImg('create', '-f', 'qcow2', '-o', 'cluster_size=512', image, '4M');
    qemuIo(image, 'write -P 0x17 3M 4k', 'write -P 0x18 0 4k');
    qemuImg('snapshot', '-c', 'big', image);
    qemuImg('resize', '--shrink', image, '1M');
    const bytes = readFileSync(join(dir, image));
    bytes.writeUInt32BE(32, 36); // 32 entries cover 1 MiB with 512-byte clusters
    writeFileSync(join(dir, image), bytes);
    execFileSync('qemu-img', ['check', '-r', 'leaks', image], { cwd: dir }); // the table's second cluster
    expect(check(image)).toEqual(clean);

    const node = await open(image);
    await node.internalSnapshots!.apply('big');
    expect(node.size).toBe(4 * 2 ** 20);
    await node.write(2 * 2 ** 20, Buffer.alloc(512, 0x19)); // through the new table
    await node.close();
    expect(check(image)).toEqual(clean);
    const content = guest(image);
    expect(content.length).toBe(4 * 2 ** 20);
    expect([content[0], content[2 * 2 ** 20], content[3 * 2 ** 20], content[3 * 2 ** 20 + 4096]]).toEqual([0x18, 0x19, 0x17, 0]);
  });

  it('a dirty image (lazy refcounts) with snapshots gets refcounts that count the snapshots', async () => {
    const image = 'dirty.qcow2';
    qemuImg('create', '-f', 'qcow2', '-o', 'lazy_refcounts=on', image, '4M');
    qemuIo(image, 'write -P 0x21 0 128k');
    qemuImg('snapshot', '-c', 's', image);
    qemuIo(image, 'write -P 0x22 0 4k');
    const bytes = readFileSync(join(dir, image));
    bytes[79] = bytes[79]! | 1; // the dirty bit, as a crash leaves it
    writeFileSync(join(dir, image), bytes);
    const node = await open(image); // rebuilds the refcounts
    await node.write(8192, Buffer.alloc(4096, 0x23));
    await node.close();
    expect(check(image)).toEqual(clean);
    qemuImg('snapshot', '-a', 's', image);
    expect(guest(image).subarray(0, 131072).every((byte) => byte === 0x21)).toBe(true);
  });

  it('unknown names are refused and change nothing', async () => {
    const image = 'unknown.qcow2';
    qemuImg('create', '-f', 'qcow2', image, '1M');
    qemuImg('snapshot', '-c', 'only', image);
    const before = readFileSync(join(dir, image));
    const node = await open(image);
    await expect(node.internalSnapshots!.apply('nope')).rejects.toThrow('snapshot not found');
    await expect(node.internalSnapshots!.delete('nope')).rejects.toThrow('snapshot not found');
    await node.close();
    expect(readFileSync(join(dir, image)).equals(before)).toBe(true);
  });

  it('a snapshot whose tables point outside the image is refused and changes nothing', async () => {
    const image = 'bad-snapshot.qcow2';
    qemuImg('create', '-f', 'qcow2', image, '1M');
    qemuIo(image, 'write 0 64k');
    qemuImg('snapshot', '-c', 'bad', image);
    const bytes = readFileSync(join(dir, image));
    const table = Number(bytes.readBigUInt64BE(64));
    const l1 = Number(bytes.readBigUInt64BE(table));
    bytes.writeBigUInt64BE(0x40000000n, l1); // its L2 table, far past the end of the file
    writeFileSync(join(dir, image), bytes);
    const node = await open(image);
    await expect(node.internalSnapshots!.apply('bad')).rejects.toThrow('qcow2 image is corrupt');
    await expect(node.internalSnapshots!.delete('bad')).rejects.toThrow('qcow2 image is corrupt');
    await node.close();
    expect(readFileSync(join(dir, image)).equals(bytes)).toBe(true);
  });

  it('refcounts of one bit cannot share clusters: refused before anything is written', async () => {
    const image = 'onebit.qcow2';
    qemuImg('create', '-f', 'qcow2', '-o', 'refcount_bits=1', image, '1M');
    qemuIo(image, 'write 0 64k');
    const before = readFileSync(join(dir, image));
    const node = await open(image);
    await expect(node.internalSnapshots!.create('s')).rejects.toThrow('Invalid argument');
    await node.close();
    expect(readFileSync(join(dir, image)).equals(before)).toBe(true);
  });
});
