// The file protocol's block status over a sparse file: holes (read as zeroes) and data as
// lseek(SEEK_DATA/SEEK_HOLE) finds them, each allocated at its own offset, as qemu's file driver
// reports them (qemu-img map of the same file is the oracle).
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BlockNode } from '@tessera/core';
import { fileProtocol } from '../src/file-protocol.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-block-status-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** A sparse file of `size` bytes with non-zero data written at each of `writes` ([offset, length]). */
function sparseFile(name: string, size: number, writes: Array<[number, number]>): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  ftruncateSync(fd, size);
  for (const [offset, length] of writes) writeSync(fd, Buffer.alloc(length, 0xa5), 0, length, offset);
  closeSync(fd);
  return path;
}

/** Every status from 0 to the end, merged as qemu-img map merges them. */
async function statusRuns(node: BlockNode): Promise<Array<{ start: number; length: number; zero: boolean; data: boolean; offset?: number }>> {
  const runs: Array<{ start: number; length: number; zero: boolean; data: boolean; offset?: number }> = [];
  for (let at = 0; at < node.size; ) {
    const status = await node.blockStatus!(at, node.size - at);
    expect(status.length).toBeGreaterThan(0);
    expect(status.allocated).toBe(true);
    expect(status.offset).toBe(at);
    expect(status.file).toBe(node.filename);
    const last = runs.at(-1);
    if (last && last.zero === status.zero && last.data === status.data) last.length += status.length;
    else runs.push({ start: at, length: status.length, zero: status.zero, data: status.data, offset: at });
    at += status.length;
  }
  return runs;
}

function qemuMap(path: string): Array<{ start: number; length: number; zero: boolean; data: boolean; offset?: number }> {
  const rows = JSON.parse(execFileSync('qemu-img', ['map', '-f', 'raw', '--output=json', path], { encoding: 'utf8' })) as Array<Record<string, unknown>>;
  return rows.map(({ start, length, zero, data, offset }) => ({ start, length, zero, data, offset }) as never);
}

describe('file protocol block status', () => {
  it('reports holes as zeroes and data as data, a trailing hole to the end, as qemu-img map sees the file', async () => {
    const path = sparseFile('scattered.raw', 64 * GiB, [[4 * MiB, 4096], [100 * MiB, 1 * MiB], [63 * GiB, 64 * 1024]]);
    const node = await fileProtocol.open(path, { readOnly: true, driverOptions: {} });
    try {
      const runs = await statusRuns(node);
      expect(runs).toEqual(qemuMap(path));
      expect(runs.filter((run) => run.data).map((run) => [run.start, run.length])).toEqual([[4 * MiB, 4096], [100 * MiB, MiB], [63 * GiB, 64 * 1024]]);
      // A query inside a hole stops where the data starts; one inside data where the hole starts; the length caps both.
      expect(await node.blockStatus!(MiB, 64 * GiB)).toMatchObject({ length: 3 * MiB, zero: true, data: false });
      expect(await node.blockStatus!(100 * MiB + 4096, 64 * GiB)).toMatchObject({ length: MiB - 4096, zero: false, data: true });
      expect(await node.blockStatus!(100 * MiB, 512)).toMatchObject({ length: 512, data: true });
      expect(await node.blockStatus!(63 * GiB + 64 * 1024, 64 * GiB)).toMatchObject({ length: GiB - 64 * 1024, zero: true, data: false });
    } finally {
      await node.close();
    }
  });

  it('reports a file without holes as one run of data, and an empty one as one hole', async () => {
    const full = sparseFile('full.raw', 3 * MiB, [[0, 3 * MiB]]);
    const empty = sparseFile('empty.raw', 1024 * GiB, []);
    for (const path of [full, empty]) {
      const node = await fileProtocol.open(path, { readOnly: true, driverOptions: {} });
      try {
        expect(await statusRuns(node)).toEqual(qemuMap(path));
        expect(await node.blockStatus!(0, node.size)).toMatchObject({ length: node.size, zero: path === empty, data: path === full });
      } finally {
        await node.close();
      }
    }
  });

  it('follows writes: a hole written becomes data', async () => {
    const path = sparseFile('written.raw', 16 * MiB, []);
    const node = await fileProtocol.open(path, { readOnly: false, driverOptions: {} });
    try {
      expect(await node.blockStatus!(0, node.size)).toMatchObject({ length: 16 * MiB, zero: true, data: false });
      await node.write(8 * MiB, new Uint8Array(4096).fill(1));
      expect(await statusRuns(node)).toEqual([
        { start: 0, length: 8 * MiB, zero: true, data: false, offset: 0 },
        { start: 8 * MiB, length: 4096, zero: false, data: true, offset: 8 * MiB },
        { start: 8 * MiB + 4096, length: 8 * MiB - 4096, zero: true, data: false, offset: 8 * MiB + 4096 },
      ]);
    } finally {
      await node.close();
    }
  });

  it('forgets data a shrink cut away: grown back, that range is a hole', async () => {
    const path = sparseFile('shrunk.raw', 8 * MiB, [[0, 4 * MiB]]);
    const node = await fileProtocol.open(path, { readOnly: false, driverOptions: {} });
    try {
      expect(await node.blockStatus!(MiB, node.size)).toMatchObject({ length: 3 * MiB, data: true });
      await node.resize!(MiB, { shrink: true });
      await node.resize!(8 * MiB, { shrink: false });
      expect(await node.blockStatus!(2 * MiB, node.size)).toMatchObject({ length: 6 * MiB, zero: true, data: false });
      expect(await statusRuns(node)).toEqual(qemuMap(path));
    } finally {
      await node.close();
    }
  });
});
