// The VMDK extents qemu-img reads but cannot create, crafted from their layouts (test/helpers/
// legacy-images.ts), read here as qemu-img 7.2 reads them: VMDK3 (COWD) disks on their own and as
// VMFSSPARSE extents of an ESX delta disk, and ESXi seSparse extents (SESPARSE) over a parent.
// The same `info` (human and JSON), `map`, `check` and guest bytes; writes where qemu writes
// (COWD), refused in qemu's words where it refuses them (seSparse).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable, run, type Configuration } from '../../../../tools/test-support/executables.ts';
import { fragmentedData } from './helpers/data.ts';
import { cowdImage, descriptorText, seSparseImage, type SeSparseMark } from './helpers/legacy-images.ts';

const MiB = 2 ** 20;
let dir: string;
/** qemu-img in the test directory: exit code and both outputs, whether it succeeds or not. */
const qemuImg = (...args: string[]): { code: number; stdout: string; stderr: string } => {
  try {
    return { code: 0, stdout: execFileSync('qemu-img', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), stderr: '' };
  } catch (error) {
    const e = error as { status: number; stdout: string; stderr: string };
    return { code: e.status, stdout: e.stdout, stderr: e.stderr };
  }
};
const file = (name: string) => join(dir, name);
const ours = (configuration: Configuration, ...args: string[]) => run(executable('img-tool', configuration), args, { cwd: dir });
const sha = (name: string) => createHash('sha256').update(readFileSync(file(name))).digest('hex');
/** The CID qemu-img wrote into a monolithicSparse image's embedded descriptor. */
const cidOf = (name: string) => parseInt(/\nCID=([0-9a-f]+)\n/.exec(readFileSync(file(name)).subarray(512, 512 * 21).toString('latin1'))![1]!, 16);

/** Guest data of a delta disk: data runs, zero runs and untouched runs (where the parent shows). */
const delta = (size: number, seed: number) => fragmentedData(size, seed);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-vmdk-legacy-'));
  const size = 6 * MiB + 40 * 1024; // three COWD tables of 1-sector grains; two seSparse tables
  writeFileSync(file('parent.raw'), fragmentedData(size, 11));
  // Bare COWD disks: with a CID where qemu looks for one (else qemu cannot open them), and without.
  const bare = fragmentedData(size, 12);
  writeFileSync(file('bare.cowd'), cowdImage(bare, { grainSectors: 16, textAt512: 'CID=5eed1e55\nparentCID=ffffffff\n' }));
  writeFileSync(file('esx2.cowd'), cowdImage(bare, { grainSectors: 16 }));
  writeFileSync(file('bare.raw'), bare);
  // An ESX delta disk: a vmfsSparse descriptor, a COWD extent, a parent made by qemu-img.
  qemuImg('convert', '-O', 'vmdk', 'parent.raw', 'parent.vmdk');
  const parent = { cid: cidOf('parent.vmdk'), fileName: 'parent.vmdk' };
  writeFileSync(file('vmfs-delta.vmdk'), cowdImage(delta(size, 13), { grainSectors: 1 }));
  writeFileSync(file('vmfs.vmdk'), descriptorText('vmfsSparse', [`RW ${size / 512} VMFSSPARSE "vmfs-delta.vmdk"`], parent));
  // Two COWD extents without a parent, one named SPARSE (qemu reads either magic for either type).
  const halves = [fragmentedData(size / 2, 14), fragmentedData(size / 2, 15)];
  writeFileSync(file('two-s001.vmdk'), cowdImage(halves[0]!, { grainSectors: 8 }));
  writeFileSync(file('two-s002.vmdk'), cowdImage(halves[1]!, { grainSectors: 8 }));
  writeFileSync(file('two.vmdk'), descriptorText('vmfsSparse', [`RW ${size / 1024} SPARSE "two-s001.vmdk"`, `RW ${size / 1024} VMFSSPARSE "two-s002.vmdk"`]));
  // An ESXi 6.5+ snapshot: a seSparse descriptor over the parent, with zeroed and unmapped grains hiding parent data.
  const seData = delta(size, 16);
  const marks = new Map<number, SeSparseMark>();
  for (let grain = 0, n = 0; grain * 4096 < size; grain++) {
    if (seData.subarray(grain * 4096, (grain + 1) * 4096).every((byte) => byte === 0) && n++ % 4 === 0) marks.set(grain, n % 8 === 1 ? 'zeroed' : 'unmapped');
  }
  writeFileSync(file('se-sesparse.vmdk'), seSparseImage(seData, marks));
  writeFileSync(file('se.vmdk'), descriptorText('seSparse', [`RW ${size / 512} SESPARSE "se-sesparse.vmdk"`], parent));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const IMAGES = ['bare.cowd', 'vmfs.vmdk', 'two.vmdk', 'se.vmdk'];
// Every image in the modular build; the seSparse one in the static build too.
const runs = configurations.flatMap((configuration) => IMAGES.filter((image) => configuration === 'modular' || image === 'se.vmdk').map((image) => ({ configuration, image })));

describe('legacy VMDK extents read as qemu-img reads them', () => {
  it.each(runs)('$image ($configuration): same info, map, check and guest bytes', async ({ configuration, image }) => {
    const tool = (...args: string[]) => ours(configuration, ...args);
    for (const args of [['info'], ['info', '--output=json'], ['map'], ['map', '--output=json'], ['check'], ['check', '--output=json']]) {
      const theirs = qemuImg(...args, image);
      expect({ args, ...(await tool(...args, image)) }).toEqual({ args, ...theirs, stderr: theirs.stderr.replaceAll('qemu-img:', 'tessera-img:') });
    }
    const converted = await tool('convert', '-O', 'raw', image, `${image}.ours.raw`);
    expect(converted).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(qemuImg('convert', '-O', 'raw', image, `${image}.qemu.raw`).code).toBe(0);
    expect(sha(`${image}.ours.raw`)).toBe(sha(`${image}.qemu.raw`));
  });

  it('a bare COWD disk is probed by its magic and opened without the CID text qemu needs', async () => {
    // qemu-img probes it as vmdk too, then fails looking for a descriptor the layout does not have.
    expect(qemuImg('info', 'esx2.cowd')).toMatchObject({ code: 1, stderr: "qemu-img: Could not open 'esx2.cowd': Could not open 'esx2.cowd': Invalid argument\n" });
    const info = await ours('modular', 'info', '--output=json', 'esx2.cowd');
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ format: 'vmdk', 'virtual-size': 6 * MiB + 40 * 1024, 'cluster-size': 8192, 'format-specific': { data: { cid: 0xffffffff, 'create-type': '' } } });
    expect(await ours('modular', 'convert', '-O', 'raw', 'esx2.cowd', 'esx2.raw')).toMatchObject({ code: 0 });
    expect(sha('esx2.raw')).toBe(sha('bare.raw'));
  });
});

describe('writes', () => {
  it('COWD extents are written as qemu writes them (grains appended, tables updated): qemu-img reads the result', async () => {
    for (const image of ['bare.cowd', 'two.vmdk']) {
      const target = image.replace(/\./, '-rw.');
      for (const name of image === 'two.vmdk' ? ['two-s001.vmdk', 'two-s002.vmdk'] : []) writeFileSync(file(name.replace('two', 'two-rw')), readFileSync(file(name)));
      writeFileSync(file(target), image === 'two.vmdk' ? readFileSync(file(image), 'latin1').replaceAll('"two-', '"two-rw-') : readFileSync(file(image)));
      const result = await ours('modular', 'convert', '-n', '-O', 'vmdk', 'parent.raw', target);
      expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
      expect(qemuImg('compare', '-f', 'raw', '-F', 'vmdk', 'parent.raw', target)).toMatchObject({ code: 0, stdout: 'Images are identical.\n' });
      expect(qemuImg('check', target)).toMatchObject({ code: 0, stdout: 'No errors were found on the image.\n' });
    }
  });

  it('a seSparse image is not opened for writing, in qemu-img\'s words, and is left as it was', async () => {
    const before = sha('se-sesparse.vmdk');
    const theirs = qemuImg('convert', '-n', '-O', 'vmdk', 'parent.raw', 'se.vmdk');
    expect(theirs).toMatchObject({ code: 1, stderr: "qemu-img: Could not open 'se.vmdk': No write support for seSparse images available\n" });
    expect(await ours('modular', 'convert', '-n', '-O', 'vmdk', 'parent.raw', 'se.vmdk')).toEqual({ code: 1, stdout: '', stderr: theirs.stderr.replace('qemu-img:', 'tessera-img:') });
    expect(sha('se-sesparse.vmdk')).toBe(before);
  });
});

describe('damaged seSparse headers are refused in qemu-img\'s words', () => {
  it.each([
    ['a bad magic', 0, 0xbf, 'Bad const header magic: 0x00000000cafebabf'],
    ['a journal to replay', 512 + 24, 1, 'Image is dirty, Replaying journal not supported'],
    ['another grain size', 24, 16, 'Unsupported grain size: 16'],
  ])('%s', async (_what, at, value, message) => {
    const bytes = readFileSync(file('se-sesparse.vmdk'));
    bytes[at] = value;
    writeFileSync(file(`bad${at}-sesparse.vmdk`), bytes);
    writeFileSync(file(`bad${at}.vmdk`), readFileSync(file('se.vmdk'), 'latin1').replace('"se-sesparse.vmdk"', `"bad${at}-sesparse.vmdk"`));
    const theirs = qemuImg('info', `bad${at}.vmdk`);
    expect(theirs).toMatchObject({ code: 1, stderr: `qemu-img: Could not open 'bad${at}.vmdk': ${message}\n` });
    const result = await ours('modular', 'info', `bad${at}.vmdk`);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`tessera-img: Could not open 'bad${at}.vmdk': ${message}`);
  });
});

describe('what is not opened', () => {
  it('a seSparse extent named on its own (qemu: not a descriptor), and a raw device mapping (qemu skips its line), are refused by name', async () => {
    const theirs = qemuImg('info', '-f', 'vmdk', 'se-sesparse.vmdk');
    expect(theirs).toMatchObject({ code: 1, stderr: "qemu-img: Could not open 'se-sesparse.vmdk': invalid VMDK image descriptor\n" });
    expect(await ours('modular', 'info', '-f', 'vmdk', 'se-sesparse.vmdk')).toEqual({
      code: 1,
      stdout: '',
      stderr: "tessera-img: Could not open 'se-sesparse.vmdk': invalid VMDK image descriptor (this is a seSparse extent: open the descriptor file that names it)\n",
    });
    writeFileSync(file('rdm.vmdk'), descriptorText('vmfs', ['RW 2048 VMFSRDM "disk-rdm.vmdk"', 'RW 2048 SPARSE "two-s001.vmdk"']));
    const rdm = await ours('modular', 'info', 'rdm.vmdk');
    expect(rdm).toMatchObject({ code: 1, stderr: expect.stringContaining("Could not open 'rdm.vmdk': VMFSRDM extents (raw device mappings") });
  });
});
