// VMDK images of every subformat made by qemu-img (and a hand-written descriptor) read here as
// qemu-img reads them: the same `info` (human and JSON, with vmdk's format-specific fields), the
// same `map`, and the same guest bytes (`qemu-img compare` against our raw conversion).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable, run } from '../../../../tools/test-support/executables.ts';
import { fragmentedData } from './helpers/data.ts';

let dir: string;
const sh = (file: string, args: string[]) => execFileSync(file, args, { cwd: dir, encoding: 'utf8' });
const qemuImg = (...args: string[]) => sh('qemu-img', args);
const qemuIo = (image: string, ...commands: string[]) => sh('qemu-io', [...commands.flatMap((c) => ['-c', c]), image]);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-vmdk-read-'));
  writeFileSync(join(dir, 'data.raw'), fragmentedData(6 * 2 ** 20, 1));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Case {
  readonly name: string;
  /** Makes `image` (a path relative to the temp dir, in a directory of its own). */
  make(image: string): void;
}

const converted = (options: string) => (image: string) => {
  qemuImg('convert', '-O', 'vmdk', '-o', options, 'data.raw', image);
};

const cases: Case[] = [
  { name: 'monolithicSparse', make: (image) => {
    converted('subformat=monolithicSparse')(image);
    qemuIo(image, 'write -P 0x5a 100k 3k', 'write -P 0x5b 5M 64k');
  } },
  { name: 'zeroed-grain', make: (image) => {
    converted('zeroed_grain=on,adapter_type=lsilogic,hwversion=7')(image);
    qemuIo(image, 'write -z 1M 192k', 'write -z 2M 10k');
  } },
  { name: 'streamOptimized', make: converted('subformat=streamOptimized') },
  { name: 'monolithicFlat', make: converted('subformat=monolithicFlat') },
  { name: 'twoGbMaxExtentSparse', make: (image) => {
    // Three extents: data in the first, across the first boundary and in the last.
    qemuImg('create', '-q', '-f', 'vmdk', '-o', 'subformat=twoGbMaxExtentSparse', image, '5G');
    qemuIo(image, 'write -P 0x11 0 200k', 'write -P 0x22 2047M 2M', 'write -P 0x33 4G 64k');
  } },
  { name: 'twoGbMaxExtentFlat', make: (image) => {
    qemuImg('create', '-q', '-f', 'vmdk', '-o', 'subformat=twoGbMaxExtentFlat', image, '2200M');
    qemuIo(image, 'write -P 0x44 2047M 2M');
  } },
  { name: 'backing', make: (image) => {
    const base = image.replace(/\.vmdk$/, '-base.vmdk');
    qemuImg('convert', '-O', 'vmdk', 'data.raw', base);
    qemuImg('create', '-q', '-f', 'vmdk', '-b', base.slice(base.lastIndexOf('/') + 1), '-F', 'vmdk', image);
    qemuIo(image, 'write -P 0x66 64k 64k', 'write -P 0x67 1000k 3k');
  } },
  { name: 'descriptor-by-hand', make: (image) => {
    // A descriptor by hand: a flat extent starting 1 MiB into its file, then the start of that file.
    const folder = image.slice(0, image.lastIndexOf('/'));
    execFileSync('dd', ['if=data.raw', `of=${folder}/flat.bin`, 'bs=1M', 'seek=1', 'count=2', 'status=none'], { cwd: dir });
    writeFileSync(join(dir, image), [
      '# Disk DescriptorFile', 'version=1', 'CID=1234abcd', 'parentCID=ffffffff', 'createType="monolithicFlat"', '', '# Extent description',
      // (Not right after a blank line: qemu 7.2 reads such a first extent line twice.)
      'RW 4096 FLAT "flat.bin" 2048', 'RW 2048 FLAT "flat.bin" 0', '',
    ].join('\n'));
  } },
];

// Every case in the modular build (the module loaded from its file); two in the static one.
const runs = configurations.flatMap((configuration) =>
  cases.filter((c) => configuration === 'modular' || ['monolithicSparse', 'streamOptimized'].includes(c.name)).map((c) => ({ configuration, ...c })),
);

describe('vmdk from qemu-img, read by tessera-img', () => {
  it.each(runs)('$name ($configuration): same info, same map, same guest bytes', async ({ configuration, name, make }) => {
    const exe = () => executable('img-tool', configuration);
    const folder = `${configuration}-${name}`;
    mkdirSync(join(dir, folder));
    const image = `${folder}/disk.vmdk`;
    make(image);
    for (const args of [['--output=human'], ['--output=json']]) {
      const ours = await run(exe(), ['info', ...args, image], { cwd: dir });
      expect(ours.stderr).toBe('');
      expect(ours.stdout).toBe(qemuImg('info', ...args, image));
    }
    for (const output of ['json', 'human']) {
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
    for (const output of ['human', 'json']) {
      const check = await run(exe(), ['check', `--output=${output}`, image], { cwd: dir });
      expect({ output, ...check }).toEqual({ output, code: 0, stdout: qemuImg('check', `--output=${output}`, image), stderr: '' });
    }
    const out = `${image}.raw`;
    const convert = await run(exe(), ['convert', '-O', 'raw', image, out], { cwd: dir });
    expect(convert.stderr).toBe('');
    expect(convert.code).toBe(0);
    expect(qemuImg('compare', '-f', 'vmdk', '-F', 'raw', image, out)).toContain('Images are identical.');
  });
});

describe('check', () => {
  it('a grain past the end of the file fails the check as in qemu-img', async () => {
    qemuImg('convert', '-O', 'vmdk', 'data.raw', 'past-eof.vmdk');
    // Point the fourth grain table entry of the first table far past the end of the file.
    const bytes = readFileSync(join(dir, 'past-eof.vmdk'));
    const table = bytes.readUInt32LE(Number(bytes.readBigUInt64LE(56)) * 512) * 512;
    bytes.writeUInt32LE(999999, table + 3 * 4);
    writeFileSync(join(dir, 'past-eof.vmdk'), bytes);
    const result = await run(executable('img-tool', 'modular'), ['check', 'past-eof.vmdk'], { cwd: dir });
    expect(result).toEqual({ code: 1, stdout: '', stderr: 'ERROR: cluster offset for sector 384 points after EOF\ntessera-img: Check failed: Invalid argument\n' });
  });
});

describe('untrusted extent names', () => {
  it.each([
    ['an absolute path', '/etc/hostname', /extent file name '\/etc\/hostname' is an absolute path/],
    ['a path leaving the directory', '../data.raw', /extent file name '\.\.\/data\.raw' leaves the descriptor's directory/],
  ])('%s is refused, naming it', async (_what, name, message) => {
    mkdirSync(join(dir, 'evil'), { recursive: true });
    const image = `evil/${name.length}.vmdk`;
    writeFileSync(join(dir, image), ['# Disk DescriptorFile', 'version=1', 'CID=1', 'parentCID=ffffffff', 'createType="monolithicFlat"', `RW 8 FLAT "${name}" 0`, ''].join('\n'));
    const result = await run(executable('img-tool', 'modular'), ['info', image], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
  });
});
