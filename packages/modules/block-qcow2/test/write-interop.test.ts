// qcow2 images made and written by tessera, judged by qemu-img: `check` finds them clean, `info`
// agrees, `compare` finds the guest bytes equal to a raw reference.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockNode } from '@tessera/core';
import { configurations, executable, run } from '../../../../tools/test-support/executables.ts';
import { fileProtocol } from '../../block-file/src/file-protocol.ts';
import { qcow2Format } from '../src/format.ts';

let dir: string;
const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { cwd: dir, encoding: 'utf8' });
/** qemu-img's exit code and output, without throwing. */
const qemuImgStatus = (...args: string[]) => {
  const result = spawnSync('qemu-img', args, { cwd: dir, encoding: 'utf8' });
  return { code: result.status, out: result.stdout + result.stderr };
};
const check = (image: string) => qemuImgStatus('check', image);
const SOURCE_SIZE = 6 * 2 ** 20 + 4096;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-write-'));
  // Random data, a zero run, a short random run, zeroes to the end (not cluster aligned).
  const data = Buffer.concat([randomBytes(2 * 2 ** 20 + 777), Buffer.alloc(2 ** 20), randomBytes(70000)]);
  writeFileSync(join(dir, 'source.raw'), Buffer.concat([data, Buffer.alloc(SOURCE_SIZE - data.length)]));
  writeFileSync(join(dir, 'backing.raw'), randomBytes(3 * 2 ** 20 + 512));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `qemu-img info --output=json` without what depends on the file rather than the format. */
function info(image: string): Record<string, unknown> {
  const parsed = JSON.parse(qemuImg('info', '--output=json', image)) as Record<string, unknown>;
  for (const key of ['filename', 'actual-size', 'full-backing-filename']) delete parsed[key];
  return parsed;
}

const CREATE_CASES: readonly (readonly string[])[] = [
  [],
  ['-o', 'compat=0.10'],
  ['-o', 'compat=v2,cluster_size=4k'],
  ['-o', 'compat=1.1,lazy_refcounts=on'],
  ['-o', 'cluster_size=512'],
  ['-o', 'cluster_size=512,refcount_bits=64'],
  ['-o', 'cluster_size=2M,refcount_bits=1'],
  ['-o', 'cluster_size=4096,refcount_bits=2'],
  ['-o', 'refcount_bits=4,extended_l2=on'],
  ['-o', 'cluster_size=16k,extended_l2=on,lazy_refcounts=on,refcount_bits=8'],
  ['-o', 'refcount_bits=32,compression_type=zlib,preallocation=off'],
  ['-b', 'backing.raw', '-F', 'raw'],
  ['-o', 'compat=0.10', '-b', 'backing.raw', '-F', 'raw'],
  ['-o', 'backing_file=backing.raw,backing_fmt=raw,cluster_size=16k,extended_l2=on'],
];

describe.each(configurations)('qcow2 written by tessera-img (%s)', (configuration) => {
  const exe = () => executable('img-tool', configuration);

  it.each(CREATE_CASES.flatMap((options) => ['1G', '100M', '3M'].map((size) => [options, size] as const)))(
    'create %j %s: qemu-img check is clean and info agrees',
    async (options, size) => {
      const name = `${configuration}-create-${options.join('').replace(/\W+/g, '_')}-${size}`;
      const [ours, theirs] = [`${name}.qcow2`, `${name}.qemu.qcow2`];
      // Without a size, an image over a backing file is as large as it is.
      const sized = options.includes('-b') && size === '3M' ? [] : [size];
      const result = await run(exe(), ['create', '-f', 'qcow2', ...options, ours, ...sized], { cwd: dir });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const qemu = qemuImg('create', '-f', 'qcow2', ...options, theirs, ...sized);
      expect(result.stdout).toBe(qemu.replace(theirs, ours));
      expect(check(ours)).toEqual({ code: 0, out: expect.stringContaining('No errors were found on the image.') });
      expect(info(ours)).toEqual(info(theirs));
      // QEMU's own layout, byte for byte (with 512-byte clusters QEMU grows its metadata differently).
      if (!/cluster_size=512/.test(options.join(' '))) expect(readFileSync(join(dir, ours)).equals(readFileSync(join(dir, theirs)))).toBe(true);
    },
  );

  it.each([
    'compat=0.10,cluster_size=1k',
    'cluster_size=1000',
    'refcount_bits=3',
    'compat=0.10,refcount_bits=8',
    'compat=0.10,lazy_refcounts=on',
    'cluster_size=4k,extended_l2=on',
    'compat=1.2',
    'preallocation=bogus',
  ])('create -o %s is refused as qemu-img refuses it', async (options) => {
    const image = `${configuration}-bad.qcow2`;
    const result = await run(exe(), ['create', '-q', '-f', 'qcow2', '-o', options, image, '1M'], { cwd: dir });
    const qemu = qemuImgStatus('create', '-q', '-f', 'qcow2', '-o', options, `${configuration}-bad-q.qcow2`, '1M');
    expect(qemu.code === 0).toBe(result.code === 0);
    if (qemu.code !== 0) expect(result.stderr.replace(image, 'X').replace(/^tessera-img:/, 'qemu-img:')).toBe(qemu.out.replace(`${configuration}-bad-q.qcow2`, 'X'));
  });

  it.each([
    'cluster_size=512,refcount_bits=1',
    'cluster_size=512,refcount_bits=64',
    'cluster_size=1k,refcount_bits=8',
    'cluster_size=4k,refcount_bits=2',
    'cluster_size=64k',
    'cluster_size=2M,refcount_bits=4',
    'compat=0.10',
    'compat=0.10,cluster_size=8k',
    'lazy_refcounts=on',
    'extended_l2=on',
    'extended_l2=on,cluster_size=16k,refcount_bits=32',
  ])('convert -O qcow2 -o %s: check clean, compare equal', async (options) => {
    const image = `${configuration}-convert-${options.replace(/\W+/g, '_')}.qcow2`;
    const result = await run(exe(), ['convert', '-O', 'qcow2', '-o', options, 'source.raw', image], { cwd: dir });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(check(image).code).toBe(0);
    expect(check(image).out).toContain('No errors were found on the image.');
    expect(qemuImgStatus('compare', '-f', 'raw', '-F', 'qcow2', 'source.raw', image)).toEqual({ code: 0, out: 'Images are identical.\n' });
    // And back again through our reader.
    const back = `${image}.raw`;
    expect((await run(exe(), ['convert', '-O', 'raw', image, back], { cwd: dir })).code).toBe(0);
    expect(readFileSync(join(dir, back)).equals(readFileSync(join(dir, 'source.raw')))).toBe(true);
  });

  it('convert qcow2 (compressed, zero clusters, backing chain) to qcow2', async () => {
    const base = `${configuration}-chain-base.qcow2`;
    const top = `${configuration}-chain-top.qcow2`;
    qemuImg('convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=4k', 'source.raw', base);
    qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top);
    execFileSync('qemu-io', ['-c', 'write -P 0x5a 100k 300k', '-c', 'write -z 1M 128k', top], { cwd: dir });
    const image = `${configuration}-from-chain.qcow2`;
    const result = await run(exe(), ['convert', '-O', 'qcow2', '-o', 'cluster_size=32k,extended_l2=on', top, image], { cwd: dir });
    expect(result.stderr).toBe('');
    expect(check(image).code).toBe(0);
    expect(qemuImgStatus('compare', top, image).out).toBe('Images are identical.\n');
  });

  it.each(['cluster_size=64k', 'cluster_size=4k,refcount_bits=1', 'extended_l2=on,cluster_size=32k', 'compat=0.10,cluster_size=512'])(
    'convert -n into an overlay over a backing file (%s): the overlay reads as the input',
    async (options) => {
      const overlay = `${configuration}-overlay-${options.replace(/\W+/g, '_')}.qcow2`;
      const created = await run(exe(), ['create', '-q', '-f', 'qcow2', '-o', options, '-b', 'backing.raw', '-F', 'raw', overlay, String(SOURCE_SIZE)], { cwd: dir });
      expect(created.stderr).toBe('');
      const result = await run(exe(), ['convert', '-n', '-O', 'qcow2', 'source.raw', overlay], { cwd: dir });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(check(overlay).code).toBe(0);
      expect(qemuImgStatus('compare', '-f', 'raw', '-F', 'qcow2', 'source.raw', overlay).out).toBe('Images are identical.\n');
      // Whole clusters of zeroes become zero clusters (v3), not data.
      const map = JSON.parse(qemuImg('map', '--output=json', overlay)) as { start: number; length: number; zero: boolean; data: boolean }[];
      const zeroClusters = map.filter((extent) => extent.zero && !extent.data && extent.start >= 2 ** 20).reduce((sum, extent) => sum + extent.length, 0);
      if (options.includes('compat=0.10')) expect(zeroClusters).toBe(0);
      else expect(zeroClusters).toBeGreaterThanOrEqual(2 ** 20);
    },
  );
});

/** Open an image through the drivers themselves (raw backing files are their file node). */
async function openImage(path: string, readOnly: boolean): Promise<BlockNode> {
  const file = await fileProtocol.open(path, { readOnly, driverOptions: {} });
  return qcow2Format.open(file, {
    readOnly,
    driverOptions: {},
    openRelative: (name, o) => fileProtocol.open(join(dir, name), { readOnly: o.readOnly, driverOptions: {} }),
  });
}

/** A seeded generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('random writes through the driver', () => {
  const cases = [
    { name: 'backing, 64k clusters', options: ['-o', 'cluster_size=64k'], backing: true },
    { name: 'backing, 4k clusters, 1-bit refcounts', options: ['-o', 'cluster_size=4k,refcount_bits=1'], backing: true },
    { name: 'backing, 512 B clusters, 64-bit refcounts', options: ['-o', 'cluster_size=512,refcount_bits=64'], backing: true },
    { name: 'backing, extended L2, 32k clusters', options: ['-o', 'cluster_size=32k,extended_l2=on'], backing: true },
    { name: 'backing, v2', options: ['-o', 'compat=0.10,cluster_size=8k'], backing: true },
    { name: 'backing, lazy refcounts', options: ['-o', 'lazy_refcounts=on,cluster_size=16k'], backing: true },
    { name: 'compressed and zero clusters from qemu', qemu: 'cluster_size=4k' },
    { name: 'compressed and zero clusters from qemu, extended L2', qemu: 'cluster_size=64k,extended_l2=on' },
  ];

  it.each(cases)('$name: compare equal to the raw reference, check clean', async (c) => {
    const seed = Math.floor(Math.random() * 2 ** 31);
    const next = random(seed);
    const image = join(dir, `random-${c.name.replace(/\W+/g, '_')}.qcow2`);
    const size = 5 * 2 ** 20 + 3 * 512;
    let reference: Buffer;
    if (c.backing) {
      execFileSync(process.execPath, [executable('img-tool', 'modular'), 'create', '-q', '-f', 'qcow2', ...c.options!, '-b', 'backing.raw', '-F', 'raw', image, String(size)], { cwd: dir });
      reference = Buffer.alloc(size);
      readFileSync(join(dir, 'backing.raw')).copy(reference);
    } else {
      qemuImg('convert', '-c', '-O', 'qcow2', '-o', c.qemu!, 'source.raw', image);
      execFileSync('qemu-io', ['-c', 'write -z 64k 64k', '-c', 'write -z 2052k 100k', '-c', 'write -P 0x17 3M 64k', image], { cwd: dir });
      qemuImg('convert', '-O', 'raw', image, `${image}.start.raw`);
      reference = readFileSync(`${image}.start.raw`);
    }
    const node = await openImage(image, false);
    expect(node.readOnly).toBe(false);
    for (let round = 0; round < 60; round++) {
      // Four at a time (with reads among them), overlapping at times: the image serializes the
      // writes, in the order issued.
      const batch: Promise<void>[] = [];
      for (let i = 0; i < 4; i++) {
        const length = 1 + Math.floor(next() ** 3 * 300_000);
        const offset = Math.floor(next() * (reference.length - length));
        const data = randomBytes(length);
        if (next() < 0.2) data.fill(0);
        data.copy(reference, offset);
        batch.push(node.write(offset, data));
        // A read issued now sees every write issued before it, none after (writes run in order, alone).
        if (next() < 0.5) {
          const length = 1 + Math.floor(next() * 100_000);
          const at = Math.floor(next() * (reference.length - length));
          const expected = Buffer.from(reference.subarray(at, at + length));
          const into = new Uint8Array(length);
          batch.push(node.read(at, into).then(() => expect(Buffer.from(into).equals(expected), `read at ${at}, seed ${seed}`).toBe(true)));
        }
      }
      await Promise.all(batch);
    }
    // Read back through our own reader while still open.
    const readBack = new Uint8Array(reference.length);
    await node.read(0, readBack);
    expect(Buffer.from(readBack).equals(reference), `seed ${seed}`).toBe(true);
    await node.close();
    writeFileSync(`${image}.ref.raw`, reference);
    const checked = check(image);
    expect(checked.out, `seed ${seed}`).toContain('No errors were found on the image.');
    expect(checked.code).toBe(0);
    expect(qemuImgStatus('compare', '-f', 'qcow2', '-F', 'raw', image, `${image}.ref.raw`).out, `seed ${seed}`).toBe('Images are identical.\n');
    expect(info(image)['dirty-flag']).toBe(false);
  });

  it.each(['cluster_size=4k', 'cluster_size=64k,extended_l2=on', 'cluster_size=512,refcount_bits=2'])(
    'a dirty image (lazy refcounts, qemu-io aborted) gets its refcounts rebuilt when opened for writing (%s)',
    async (options) => {
      const image = join(dir, `dirty-${options.replace(/\W+/g, '_')}.qcow2`);
      qemuImg('create', '-q', '-f', 'qcow2', '-o', `lazy_refcounts=on,${options}`, image, '8M');
      // qemu-io's abort: the process dies with SIGABRT, the refcounts it postponed never written.
      spawnSync('qemu-io', ['-c', 'write -P 0x11 0 1M', '-c', 'write -P 0x12 3M 200k', '-c', 'abort', image], { cwd: dir, stdio: 'ignore' });
      expect(info(image)['dirty-flag']).toBe(true);
      expect(check(image).out).toMatch(/ERROR cluster \d+ refcount=0 reference=1/);
      const node = await openImage(image, false);
      await node.write(2 ** 20 - 100, new Uint8Array(5000).fill(0x33));
      await node.close();
      const checked = check(image);
      expect(checked.out).toContain('No errors were found on the image.');
      expect(checked.code).toBe(0);
      expect(info(image)['dirty-flag']).toBe(false);
      const reference = Buffer.alloc(8 * 2 ** 20);
      reference.fill(0x11, 0, 2 ** 20);
      reference.fill(0x12, 3 * 2 ** 20, 3 * 2 ** 20 + 200 * 1024);
      reference.fill(0x33, 2 ** 20 - 100, 2 ** 20 + 4900);
      writeFileSync(`${image}.ref.raw`, reference);
      expect(qemuImgStatus('compare', '-f', 'qcow2', '-F', 'raw', image, `${image}.ref.raw`).out).toBe('Images are identical.\n');
    },
  );

  it('refuses to open for writing what it cannot write, and leaves the file as it was', async () => {
    // Marked corrupt: the incompatible feature bit 1 (byte 79 of the header).
    qemuImg('create', '-q', '-f', 'qcow2', 'corrupt.qcow2', '1M');
    const corruptPath = join(dir, 'corrupt.qcow2');
    const marked = readFileSync(corruptPath);
    marked[79] = marked[79]! | 2;
    writeFileSync(corruptPath, marked);
    await expect(openImage(corruptPath, false)).rejects.toThrow(/marked corrupt.*check -r all/);
    expect(readFileSync(corruptPath).equals(marked)).toBe(true);
    // (Images with persistent bitmaps are written, resized, amended, …: bitmap-interop.test.ts, bitmap-operations.test.ts.)
  });
});
