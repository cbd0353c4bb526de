// The writer's fast paths, judged by qemu-img: fresh writes (whole new clusters, the image lock
// released while their data is written), metadata deferred under cache=unsafe, and lookups that
// report runs of clusters in one step.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockNode } from '@tessera/core';
import { withoutFlushes } from '../../../core/src/block/unsafe-cache.ts';
import { fileProtocol } from '../../block-file/src/file-protocol.ts';
import { qcow2Format } from '../src/format.ts';

let dir: string;
const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { cwd: dir, encoding: 'utf8' });
const qemuImgStatus = (...args: string[]) => {
  const result = spawnSync('qemu-img', args, { cwd: dir, encoding: 'utf8' });
  return { code: result.status, out: result.stdout + result.stderr };
};

interface MapEntry {
  start: number;
  length: number;
  data: boolean;
  zero: boolean;
  offset?: number;
}
const qemuMap = (image: string, ...flags: string[]): MapEntry[] => JSON.parse(qemuImg('map', ...flags, '--output=json', image)) as MapEntry[];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-paths-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function open(path: string, { cacheUnsafe = false } = {}): Promise<BlockNode> {
  const file = await fileProtocol.open(path, { readOnly: false, driverOptions: {} });
  return qcow2Format.open(cacheUnsafe ? withoutFlushes(file) : file, { readOnly: false, driverOptions: {}, ...(cacheUnsafe ? { cacheUnsafe } : {}) });
}

/** qemu-img check clean and the guest bytes equal to `reference`. */
function expectSound(image: string, reference: Buffer): void {
  const checked = qemuImgStatus('check', image);
  expect(checked.out).toContain('No errors were found on the image.');
  expect(checked.code).toBe(0);
  writeFileSync(`${image}.ref.raw`, reference);
  expect(qemuImgStatus('compare', '-f', 'qcow2', '-F', 'raw', image, `${image}.ref.raw`).out).toBe('Images are identical.\n');
}

describe.each([false, true])('fresh writes (cache=unsafe: %s)', (cacheUnsafe) => {
  const CS = 64 * 1024;

  it('whole new clusters issued at once land in guest order, and reads see every write issued before them', async () => {
    const image = join(dir, `fresh-${cacheUnsafe}.qcow2`);
    qemuImg('create', '-q', '-f', 'qcow2', image, '64M');
    const node = await open(image, { cacheUnsafe });
    const reference = Buffer.alloc(64 * 2 ** 20);
    const pending: Promise<void>[] = [];
    // 2 MiB chunks in guest order, as convert issues them; every third is followed by a read of
    // what was just written and of the chunk before, and by an overwrite of part of it (which
    // must wait for the fresh write that holds those clusters).
    for (let chunk = 0; chunk < 24; chunk++) {
      const at = chunk * 2 * 2 ** 20;
      const data = randomBytes(2 * 2 ** 20);
      data.copy(reference, at);
      pending.push(node.write(at, data));
      if (chunk % 4 === 1) {
        // The same whole clusters again at once: their entries are still empty, but they are taken.
        const again = randomBytes(2 * CS);
        again.copy(reference, at);
        pending.push(node.write(at, again));
      }
      if (chunk % 3 === 2) {
        const expected = Buffer.from(reference.subarray(at - 2 ** 20, at + 2 ** 20));
        const into = new Uint8Array(expected.length);
        pending.push(node.read(at - 2 ** 20, into).then(() => expect(Buffer.from(into).equals(expected), `read at chunk ${chunk}`).toBe(true)));
        const over = randomBytes(3 * CS + 100);
        over.copy(reference, at + CS - 50);
        pending.push(node.write(at + CS - 50, over));
      }
    }
    // Zero clusters and a whole-cluster write into them (not fresh: the entries are not empty).
    pending.push(node.write(60 * 2 ** 20, new Uint8Array(4 * CS)));
    const late = randomBytes(CS);
    late.copy(reference, 60 * 2 ** 20 + CS);
    pending.push(node.write(60 * 2 ** 20 + CS, late));
    await Promise.all(pending);
    const readBack = new Uint8Array(reference.length);
    await node.read(0, readBack);
    expect(Buffer.from(readBack).equals(reference)).toBe(true);
    await node.close();

    expectSound(image, reference);
    // Allocated in issue order: host offsets grow with guest offsets, as qemu-img lays them out.
    const data = qemuMap(image).filter((entry) => entry.data && entry.offset !== undefined && entry.start < 48 * 2 ** 20);
    const offsets = data.map((entry) => entry.offset!);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(data.reduce((sum, entry) => sum + entry.length, 0)).toBe(48 * 2 ** 20);
  });

  it('a refused write changes nothing, and the writes around it land', async () => {
    const image = join(dir, `fresh-fail-${cacheUnsafe}.qcow2`);
    qemuImg('create', '-q', '-f', 'qcow2', image, '8M');
    const node = await open(image, { cacheUnsafe });
    const reference = Buffer.alloc(8 * 2 ** 20);
    const data = randomBytes(4 * CS);
    data.copy(reference, 0);
    await node.write(0, data);
    // Beyond the end: refused before anything is allocated.
    await expect(node.write(8 * 2 ** 20 - CS, randomBytes(2 * CS))).rejects.toThrow(/beyond the end/);
    const more = randomBytes(2 * CS);
    more.copy(reference, 4 * CS);
    await node.write(4 * CS, more);
    await node.close();
    expectSound(image, reference);
  });
});

describe('writes across L2 tables (512-byte clusters: a table reaches 32 KiB)', () => {
  const CS = 512;
  const SPAN = 64 * CS;

  it('each table the write fills takes the fresh path, the others the general one, and all land', async () => {
    const image = join(dir, 'across-tables.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512', image, '4M');
    const node = await open(image);
    const reference = Buffer.alloc(4 * 2 ** 20);
    // Table 1 has a data cluster already, table 2 a zero cluster: neither is fresh.
    const early = randomBytes(CS);
    early.copy(reference, SPAN + 3 * CS);
    await node.write(SPAN + 3 * CS, early);
    await node.write(2 * SPAN, new Uint8Array(CS));
    // Eight tables' reach at once, one cluster of it all zeroes (nor is table 4 fresh). The last
    // table is still being written fresh when the writes issued meanwhile get their turn: those
    // must not take the clusters it holds.
    const big = randomBytes(8 * SPAN);
    big.fill(0, 4 * SPAN + 10 * CS, 4 * SPAN + 11 * CS);
    big.copy(reference, 0);
    const inside = randomBytes(4 * CS);
    inside.copy(reference, 7 * SPAN + 8 * CS);
    const overlap = randomBytes(SPAN);
    overlap.copy(reference, 6 * SPAN + SPAN / 2);
    const last = randomBytes(2 * CS);
    last.copy(reference, 7 * SPAN);
    // A write is done when it resolves: its buffer is the caller's again (convert reuses it).
    const write = (at: number, data: Buffer) => node.write(at, data).then(() => data.fill(0xee));
    await Promise.all([write(0, big), write(7 * SPAN + 8 * CS, inside), write(6 * SPAN + SPAN / 2, overlap), write(7 * SPAN, last)]);
    const readBack = new Uint8Array(reference.length);
    await node.read(0, readBack);
    expect(Buffer.from(readBack).equals(reference)).toBe(true);
    await node.close();
    expectSound(image, reference);
  });
});

describe('cache=unsafe keeps metadata in memory until flush or close', () => {
  it('the file shows no new mapping while open, and all of it after close', async () => {
    const image = join(dir, 'deferred.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4k', image, '16M');
    const node = await open(image, { cacheUnsafe: true });
    const reference = Buffer.alloc(16 * 2 ** 20);
    for (const [at, length] of [[0, 3 * 2 ** 20], [5 * 2 ** 20 + 512, 100_000], [12 * 2 ** 20, 4096]] as const) {
      const data = randomBytes(length);
      data.copy(reference, at);
      await node.write(at, data);
    }
    // Our own reads see the writes; the file's L2 tables do not have them yet (qemu-img -U reads them).
    const readBack = new Uint8Array(reference.length);
    await node.read(0, readBack);
    expect(Buffer.from(readBack).equals(reference)).toBe(true);
    expect(qemuMap(image, '-U').some((entry) => entry.data)).toBe(false);
    await node.flush();
    expect(qemuMap(image, '-U').filter((entry) => entry.data).reduce((sum, entry) => sum + entry.length, 0)).toBeGreaterThanOrEqual(3 * 2 ** 20 + 100_000 + 4096);
    const after = randomBytes(8192);
    after.copy(reference, 9 * 2 ** 20);
    await node.write(9 * 2 ** 20, after);
    await node.close();
    expectSound(image, reference);
  });

  it('an internal snapshot taken after deferred writes holds them', async () => {
    const image = join(dir, 'deferred-snapshot.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', image, '8M');
    const node = await open(image, { cacheUnsafe: true });
    const before = Buffer.alloc(8 * 2 ** 20);
    randomBytes(2 * 2 ** 20 + 300).copy(before, 1000);
    await node.write(0, before);
    await node.internalSnapshots!.create('s1');
    const later = randomBytes(70_000);
    const now = Buffer.from(before);
    later.copy(now, 2 ** 20);
    await node.write(2 ** 20, later);
    await node.close();
    expectSound(image, now);
    qemuImg('snapshot', '-a', 's1', image);
    expectSound(image, before);
  });
});

describe('lookups report runs of clusters', () => {
  it('contiguous data is one extent, a jump on the host ends it, zero and unallocated runs are whole', async () => {
    const image = join(dir, 'runs.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4k', image, '4M');
    // 0-256k data in order; 256k-264k written after 3M (so elsewhere on the host); 1M-1.5M zeroes.
    execFileSync('qemu-io', ['-c', 'write -P 1 0 256k', '-c', 'write -P 2 3M 4k', '-c', 'write -P 3 256k 8k', '-c', 'write -z 1M 512k', image], { cwd: dir });
    const node = await open(image);
    const status = await node.blockStatus!(0, 4 * 2 ** 20);
    expect(status).toMatchObject({ length: 256 * 1024, data: true, zero: false });
    const jump = await node.blockStatus!(256 * 1024, 4 * 2 ** 20);
    expect(jump).toMatchObject({ length: 8 * 1024, data: true });
    expect(jump.offset).not.toBe(status.offset! + 256 * 1024);
    expect(await node.blockStatus!(264 * 1024, 2 ** 20)).toMatchObject({ length: 2 ** 20 - 264 * 1024, data: false, allocated: false });
    expect(await node.blockStatus!(2 ** 20, 2 ** 20)).toMatchObject({ length: 512 * 1024, zero: true, allocated: true });
    // A query shorter than the run gets what it asked for.
    expect(await node.blockStatus!(4096, 10_000)).toMatchObject({ length: 10_000, data: true, offset: status.offset! + 4096 });
    await node.close();
  });
});
