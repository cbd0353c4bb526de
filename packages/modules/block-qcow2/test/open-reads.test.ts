// What opening an image and looking up its clusters read from the file: the first cluster in one
// read when it is 64 KiB or less (two when bigger, the header being anywhere in it), and one read of
// an L2 table for lookups that miss on it together.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BlockNode } from '@tessera/core';
import { fileProtocol } from '../../block-file/src/file-protocol.ts';
import { qcow2Format } from '../src/format.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-open-reads-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { cwd: dir, encoding: 'utf8' });
const qemuIo = (...args: string[]) => execFileSync('qemu-io', args, { cwd: dir, encoding: 'utf8' });

/** A file node that records the reads made through it (offset, length). */
async function recordingFile(path: string): Promise<{ node: BlockNode; reads: Array<[number, number]> }> {
  const file = await fileProtocol.open(path, { readOnly: true, driverOptions: {} });
  const reads: Array<[number, number]> = [];
  const node = new Proxy(file, {
    get(target, key) {
      if (key === 'read') {
        return (offset: number, into: Uint8Array) => {
          reads.push([offset, into.length]);
          return target.read(offset, into);
        };
      }
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { node, reads };
}

function patch(path: string, at: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, bytes, 0, bytes.length, at);
  closeSync(fd);
}

function readBytes(path: string, at: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  const buffer = Buffer.alloc(length);
  readSync(fd, buffer, 0, length, at);
  closeSync(fd);
  return buffer;
}

describe('opening reads the first cluster', () => {
  it('in one read of 64 KiB when the cluster is that size', async () => {
    const path = join(dir, 'c64k.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'cluster_size=64k', path, '1G');
    const { node, reads } = await recordingFile(path);
    const image = await qcow2Format.open(node, { readOnly: true, driverOptions: {} });
    expect(reads[0]).toEqual([0, 65536]);
    expect(reads.filter(([offset]) => offset < 65536)).toHaveLength(1);
    await image.close();
  });

  it('in two reads when it is bigger, so a backing file name placed past 64 KiB is found', async () => {
    const path = join(dir, 'c2m.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'cluster_size=2M', '-u', '-b', 'base-of-a-big-cluster.raw', '-F', 'raw', path, '1G');
    // Move the backing file name to 1 MiB into the first cluster, where the format allows it.
    const name = Buffer.from('base-of-a-big-cluster.raw');
    const offsetField = Buffer.alloc(8);
    offsetField.writeBigUInt64BE(1n << 20n);
    patch(path, 1 << 20, name);
    patch(path, 8, offsetField);
    expect(JSON.parse(qemuImg('info', '--output=json', '-U', path))['backing-filename']).toBe('base-of-a-big-cluster.raw');

    const { node, reads } = await recordingFile(path);
    const opened = qcow2Format.open(node, {
      readOnly: true,
      driverOptions: {},
      openRelative: (wanted) => Promise.reject(new Error(`asked for '${wanted}'`)),
    });
    await expect(opened).rejects.toThrow("asked for 'base-of-a-big-cluster.raw'");
    expect(reads.slice(0, 2)).toEqual([[0, 65536], [65536, 2 * 2 ** 20 - 65536]]);
    await node.close();
  });

  it('whole when the file is shorter than 64 KiB, and a cluster size out of range is refused by name', async () => {
    const path = join(dir, 'short.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'cluster_size=512', path, '1M');
    const size = statSync(path).size;
    expect(size).toBeLessThan(65536);
    const { node, reads } = await recordingFile(path);
    const image = await qcow2Format.open(node, { readOnly: true, driverOptions: {} });
    expect(reads[0]).toEqual([0, size]);
    await image.close();

    const bits = Buffer.alloc(4);
    bits.writeUInt32BE(30);
    patch(path, 20, bits);
    const bad = await recordingFile(path);
    await expect(qcow2Format.open(bad.node, { readOnly: true, driverOptions: {} })).rejects.toThrow('Unsupported cluster size: 2^30');
    expect(bad.reads).toEqual([[0, size]]);
    await bad.node.close();
  });
});

describe('lookups that miss on one L2 table together', () => {
  it('share one read of it', async () => {
    const path = join(dir, 'shared-l2.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'cluster_size=64k', path, '64M');
    qemuIo('-c', 'write -P 0x5a 0 8M', path);
    const l1Offset = Number(readBytes(path, 40, 8).readBigUInt64BE());
    const l2Offset = Number(readBytes(path, l1Offset, 8).readBigUInt64BE() & 0x00fffffffffffe00n);

    const { node, reads } = await recordingFile(path);
    const image = await qcow2Format.open(node, { readOnly: true, driverOptions: {} });
    const buffers = Array.from({ length: 8 }, () => new Uint8Array(1 << 20));
    await Promise.all(buffers.map((buffer, i) => image.read(i << 20, buffer)));
    expect(buffers.every((buffer) => buffer.every((byte) => byte === 0x5a))).toBe(true);
    expect(reads.filter(([offset]) => offset === l2Offset)).toEqual([[l2Offset, 65536]]);
    await image.close();
  });
});
