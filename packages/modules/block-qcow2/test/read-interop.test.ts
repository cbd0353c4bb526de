// qcow2 images made by qemu-img and qemu-io read here as qemu-img reads them: the same `info`
// (human and JSON), the same `check` verdict and the same guest bytes (`qemu-img compare` against
// our raw conversion).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable, run } from '../../../../tools/test-support/executables.ts';

let dir: string;
const sh = (file: string, args: string[]) => execFileSync(file, args, { cwd: dir, encoding: 'utf8' });
const qemuImg = (...args: string[]) => sh('qemu-img', args);
const qemuIo = (image: string, ...commands: string[]) => sh('qemu-io', [...commands.flatMap((c) => ['-c', c]), image]);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-read-'));
  // Source data: random in the first part, zeroes after.
  const data = Buffer.concat([randomBytes(3 * 2 ** 20 + 12345), Buffer.alloc(5 * 2 ** 20 - 12345)]);
  writeFileSync(join(dir, 'data.raw'), data);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Case {
  readonly name: string;
  /** Why `map` may differ from qemu-img's for this image. */
  readonly mapDiffers?: string;
  /** Shell steps that make `<name>.qcow2` in the temp dir. */
  make(image: string): void;
}

const converted = (options: string, compress = false): ((image: string) => void) => (image) => {
  qemuImg('convert', ...(compress ? ['-c'] : []), '-O', 'qcow2', '-o', options, 'data.raw', image);
  qemuIo(image, 'write -P 0x5a 100k 3k', 'write -z 1M 200k');
};

const cases: Case[] = [
  ...[512, 4096, 65536, 2 * 2 ** 20].map((size) => ({ name: `cluster-${size}`, make: converted(`cluster_size=${size}`) })),
  { name: 'compat-0.10', make: converted('compat=0.10') },
  ...[1, 2, 8, 64].map((bits) => ({ name: `refcount-${bits}`, make: converted(`refcount_bits=${bits}`) })),
  { name: 'compressed', make: converted('cluster_size=65536', true) },
  { name: 'compressed-4k', make: converted('cluster_size=4096', true) },
  { name: 'lazy-refcounts', make: converted('lazy_refcounts=on') },
  { name: 'extended-l2', make: (image) => {
    qemuImg('convert', '-O', 'qcow2', '-o', 'extended_l2=on,cluster_size=128k', 'data.raw', image);
    qemuIo(image, 'write -P 0x11 4k 2k', 'write -z 200k 8k', 'write -P 0x22 6000k 4k');
  } },
  { name: 'extended-l2-empty', make: (image) => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'extended_l2=on', image, '8M');
    qemuIo(image, 'write -P 0x33 12k 4k', 'write -z 64k 4k');
  } },
  { name: 'preallocation-metadata', mapDiffers: 'qemu asks the file for holes (SEEK_HOLE), which Node cannot', make: (image) => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'preallocation=metadata', image, '8M');
    qemuIo(image, 'write -P 0x44 0 64k');
  } },
  { name: 'preallocation-full', mapDiffers: 'qemu asks the file for holes (SEEK_HOLE), which Node cannot', make: (image) => qemuImg('create', '-q', '-f', 'qcow2', '-o', 'preallocation=full', image, '2M') },
  { name: 'backing-chain', make: (image) => {
    // Three deep: base (data), mid (over writes and zero clusters), top (more of both).
    qemuImg('convert', '-O', 'qcow2', 'data.raw', 'chain-base.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'chain-base.qcow2', '-F', 'qcow2', 'chain-mid.qcow2');
    qemuIo('chain-mid.qcow2', 'write -P 0x66 64k 64k', 'write -z 256k 128k', 'write -z 4M 64k');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'chain-mid.qcow2', '-F', 'qcow2', image);
    qemuIo(image, 'write -P 0x77 96k 8k', 'write -z 512k 64k', 'write -P 0x78 256k 4k');
  } },
  { name: 'backing-raw-shorter', make: (image) => {
    execFileSync('truncate', ['-s', '1M', join(dir, 'short.raw')]);
    qemuIo('short.raw', 'write -P 0x12 0 1M');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'short.raw', '-F', 'raw', image, '4M');
  } },
  { name: 'snapshots', make: (image) => {
    qemuImg('convert', '-O', 'qcow2', 'data.raw', image);
    qemuImg('snapshot', '-c', 'first', image);
    qemuIo(image, 'write -P 0x42 0 64k', 'write -z 2M 64k');
    qemuImg('snapshot', '-c', 'second one', image);
    qemuIo(image, 'write -P 0x43 32k 64k');
  } },
  { name: 'data-file', make: (image) => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'data_file=data-file.bin', image, '4M');
    qemuIo(image, 'write -P 0x21 0 100k', 'write -z 200k 64k');
  } },
  { name: 'data-file-raw', make: (image) => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'data_file=data-file-raw.bin,data_file_raw=on', image, '4M');
    qemuIo(image, 'write -P 0x31 64k 100k');
  } },
];

describe.each(configurations)('qcow2 from qemu-img, read by tessera-img (%s)', (configuration) => {
  const exe = () => executable('img-tool', configuration);

  it.each(cases)('$name: same info, same map, same guest bytes', async ({ name, make, mapDiffers }) => {
    const image = `${configuration}-${name}.qcow2`;
    make(image);
    for (const args of [['--output=human'], ['--output=json'], ['--backing-chain'], ['--backing-chain', '--output=json']]) {
      const ours = await run(exe(), ['info', ...args, image], { cwd: dir });
      expect(ours.stderr).toBe('');
      expect(ours.stdout).toBe(qemuImg('info', ...args, image));
    }
    for (const output of mapDiffers ? [] : ['json', 'human']) {
      const ours = await run(exe(), ['map', `--output=${output}`, image], { cwd: dir });
      let theirs: { code: number; stdout: string; stderr: string };
      try {
        theirs = { code: 0, stdout: qemuImg('map', `--output=${output}`, image), stderr: '' };
      } catch (error) {
        const e = error as { status: number; stdout: string; stderr: string };
        theirs = { code: e.status, stdout: e.stdout, stderr: e.stderr.replace(/^qemu-img:/gm, 'tessera-img:') };
      }
      expect({ output, ...ours }).toEqual({ output, ...theirs });
    }
    const list = await run(exe(), ['snapshot', '-l', image], { cwd: dir });
    expect(list).toEqual({ code: 0, stdout: qemuImg('snapshot', '-l', image), stderr: '' });
    for (const output of ['human', 'json']) {
      // The check verdict too: these images are clean, so qemu-img exits 0 and prints to stdout only.
      const check = await run(exe(), ['check', `--output=${output}`, image], { cwd: dir });
      expect({ output, ...check }).toEqual({ output, code: 0, stdout: qemuImg('check', `--output=${output}`, image), stderr: '' });
    }
    const out = `${image}.raw`;
    const convert = await run(exe(), ['convert', '-O', 'raw', image, out], { cwd: dir });
    expect(convert.stderr).toBe('');
    expect(convert.code).toBe(0);
    expect(qemuImg('compare', '-f', 'qcow2', '-F', 'raw', image, out)).toContain('Images are identical.');
  });
});

describe('untrusted qcow2 input', () => {
  const exe = () => executable('img-tool', 'modular');

  function patched(name: string, at: number, bytes: number[], more: [number, number[]][] = []): string {
    const image = `bad-${name}.qcow2`;
    qemuImg('create', '-q', '-f', 'qcow2', image, '1M');
    qemuIo(image, 'write -P 0x9 0 64k');
    const fd = openSync(join(dir, image), 'r+');
    for (const [where, what] of [[at, bytes] as [number, number[]], ...more]) writeSync(fd, Buffer.from(what), 0, what.length, where);
    closeSync(fd);
    return image;
  }

  it.each([
    ['an unknown incompatible feature', 72, [0x10, 0, 0, 0, 0, 0, 0, 0], /Unsupported qcow2 feature\(s\): Unknown incompatible feature: 1000000000000000/],
    ['a cluster size of 2^40', 20, [0, 0, 0, 40], /Unsupported cluster size: 2\^40/],
    ['a huge L1 table', 36, [0x7f, 0xff, 0xff, 0xff], /L1 table too large/],
    ['an unaligned L1 offset', 40, [0, 0, 0, 0, 0, 0, 0x01, 0x01], /L1 table offset .* not cluster aligned/],
    ['a virtual size of 2^62', 24, [0x40, 0, 0, 0, 0, 0, 0, 0], /out of range|too large/],
    ['an unknown version', 4, [0, 0, 0, 9], /Unsupported qcow2 version 9/],
    ['the compression type bit with zlib', 72, [0, 0, 0, 0, 0, 0, 0, 8], /Compression type incompatible feature bit must not be set/],
  ] as const)('%s is refused with a clear error', async (name, at, bytes, message) => {
    const image = patched(name.replace(/\W+/g, '-'), at, [...bytes]);
    const result = await run(exe(), ['info', image], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
  });

  // The refcount table of a new 1 MiB image is at 0x10000; its first entry points to 0x20000.
  it('a refcount block offset above 4 GiB (beyond the file) is checked as qemu-img checks it', async () => {
    const image = patched('refcount-high', 0x10000, [0, 0, 0, 0x01, 0, 0x02, 0, 0]);
    const ours = await run(exe(), ['check', image], { cwd: dir });
    const theirs = spawnSync('qemu-img', ['check', image], { cwd: dir, encoding: 'utf8' });
    expect(ours.stderr).toContain('ERROR refcount block 0 is outside image');
    expect({ code: ours.code, stdout: ours.stdout, stderr: ours.stderr }).toEqual({ code: theirs.status, stdout: theirs.stdout, stderr: theirs.stderr });
    // Writing needs its refcounts: the block beyond the file counts nothing, so the write is refused.
    const snapshot = await run(exe(), ['snapshot', '-c', 's1', image], { cwd: dir });
    expect(snapshot.code).toBe(1);
    expect(snapshot.stderr).toContain('qcow2 image is corrupt: cluster 4 is referenced 1 times more but its refcount is 0');
  });

  it('an unaligned refcount block offset is an error naming it', async () => {
    const image = patched('refcount-unaligned', 0x10000, [0, 0, 0, 0, 0, 0x02, 0x02, 0]);
    const result = await run(exe(), ['resize', image, '2M'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('refcount block offset 131584 is not cluster aligned');
  });

  it('an unknown compression type, or zstd without its incompatible bit, is refused in qemu-img\'s words', async () => {
    const unknown = patched('compression-2', 72, [0, 0, 0, 0, 0, 0, 0, 8], [[104, [2]]]);
    const result = await run(exe(), ['info', unknown], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`Could not open '${unknown}': qcow2: unknown compression type: 2`);
    const noBit = patched('zstd-no-bit', 104, [1]);
    expect((await run(exe(), ['info', noBit], { cwd: dir })).stderr).toContain('qcow2: Compression type incompatible feature bit must be set');
  });

  it('an unknown encryption method is refused in qemu-img\'s words (luks and aes: encryption-interop.test.ts)', async () => {
    const unknown = patched('crypt-3', 32, [0, 0, 0, 3]);
    const result = await run(exe(), ['info', unknown], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`Could not open '${unknown}': Unsupported encryption method 3`);
  });

  it('an L2 table pointing past the end or unaligned data is an error, not a crash', async () => {
    // The L1 entry of the image's first L2 table, made to point far beyond the file.
    const image = patched('l2-beyond', 0, [0x51, 0x46, 0x49, 0xfb]);
    const l1Offset = Number(BigInt(`0x${Buffer.from(execFileSync('xxd', ['-p', '-s', '40', '-l', '8', join(dir, image)], { encoding: 'utf8' }).trim(), 'hex').toString('hex')}`));
    const fd = openSync(join(dir, image), 'r+');
    writeSync(fd, Buffer.from([0x80, 0, 0, 0x10, 0, 0, 0, 0]), 0, 8, l1Offset);
    closeSync(fd);
    const result = await run(exe(), ['convert', '-O', 'raw', image, 'l2-beyond.raw'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/L2 table at \d+ lies beyond the end of the file/);
  });

  it('a backing file loop ends with an error', async () => {
    qemuImg('create', '-q', '-f', 'qcow2', 'loop-a.qcow2', '1M');
    qemuImg('create', '-q', '-f', 'qcow2', '-u', '-b', 'loop-a.qcow2', '-F', 'qcow2', 'loop-b.qcow2', '1M');
    qemuImg('rebase', '-u', '-f', 'qcow2', '-b', 'loop-b.qcow2', '-F', 'qcow2', 'loop-a.qcow2');
    // Reading through the chain (info alone opens no backing file, as qemu-img's).
    const result = await run(exe(), ['convert', '-O', 'raw', 'loop-a.qcow2', 'loop.raw'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^tessera-img: Backing file 'loop-a\.qcow2' creates an infinite loop\.\n$/);
    const chain = await run(exe(), ['info', '--backing-chain', 'loop-a.qcow2'], { cwd: dir });
    expect(chain.code).toBe(1);
    expect(chain.stderr).toMatch(/Backing file '.*loop-a\.qcow2' creates an infinite loop\./);
  });
});
