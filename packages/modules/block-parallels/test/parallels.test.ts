// Parallels images made by qemu-img (and the older "WithoutFreeSpace" variant) read here as
// qemu-img reads them (info, map, check, guest bytes); images written here pass qemu-img check
// and compare; the in-use mark works as qemu's; the parser survives mutated headers and BATs.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable } from '../../../../tools/test-support/executables.ts';
import { digestOf, expectQemuAccepts, expectReadAsQemu, fuzzDriver, scratch, writeFragmentedRaw, type Scratch } from '../../../../tools/test-support/format-interop.ts';
import { parallelsFormat } from '../src/driver.ts';

let s: Scratch;

/** The same image in the old format: the other magic, BAT entries in sectors instead of clusters. */
function toOldMagic(from: string, to: string): void {
  const bytes = readFileSync(s.path(from));
  bytes.write('WithoutFreeSpace', 0, 'latin1');
  const tracks = bytes.readUInt32LE(28);
  const entries = bytes.readUInt32LE(32);
  for (let i = 0; i < entries; i++) bytes.writeUInt32LE(bytes.readUInt32LE(64 + i * 4) * tracks, 64 + i * 4);
  writeFileSync(s.path(to), bytes);
}

beforeAll(() => {
  s = scratch('parallels');
  writeFragmentedRaw(s.path('frag.raw'));
  s.qemuImg('convert', '-O', 'parallels', 'frag.raw', 'default.parallels');
  s.qemuIo('default.parallels', 'write -P 0x5a 5000k 1k', 'write -P 0x21 2100k 1k');
  s.qemuImg('convert', '-O', 'parallels', '-o', 'cluster_size=64k', 'frag.raw', 'small.parallels');
  toOldMagic('small.parallels', 'old.parallels');
});
afterAll(() => s.remove());

describe('parallels from qemu-img, read by tessera-img', () => {
  // Both configurations for one image (the module loads, or is linked in); the rest modular.
  it.each(configurations)('default (%s): same info, map, check and guest bytes', async (configuration) => {
    await expectReadAsQemu(s, executable('img-tool', configuration), 'parallels', 'default.parallels', { humanMap: configuration === 'modular', jsonCheck: true });
  });
  it.each(['small', 'old'])('%s: same info, map, check and guest bytes', async (name) => {
    await expectReadAsQemu(s, executable('img-tool', 'modular'), 'parallels', `${name}.parallels`);
  });
});

describe('parallels written by tessera-img', () => {
  const exe = () => executable('img-tool', 'modular');

  it.each([[''], ['cluster_size=4k,preallocation=full']])('convert -O parallels -o "%s" of a fragmented raw image passes qemu-img check and compare', async (options) => {
    const image = `written-${options.replace(/\W/g, '-')}.parallels`;
    expect(await s.ours(exe(), 'convert', '-O', 'parallels', ...(options ? ['-o', options] : []), 'frag.raw', image)).toMatchObject({ code: 0, stderr: '' });
    expectQemuAccepts(s, 'parallels', image, s.path('frag.raw'));
    expect(readFileSync(s.path(image)).readUInt32LE(44)).toBe(0); // not in use after close
  });

  it('create lays out the image as qemu-img does, for odd cluster sizes too', async () => {
    for (const cluster of ['1000', '64k', '1M']) {
      expect(await s.ours(exe(), 'create', '-q', '-f', 'parallels', '-o', `cluster_size=${cluster}`, 'ours.parallels', '5M')).toMatchObject({ code: 0, stderr: '' });
      s.qemuImg('create', '-q', '-f', 'parallels', '-o', `cluster_size=${cluster}`, 'theirs.parallels', '5M');
      expect(digestOf(s.path('ours.parallels'))).toBe(digestOf(s.path('theirs.parallels')));
    }
    const ours = await s.ours(exe(), 'create', '-q', '-f', 'parallels', '-o', 'cluster_size=0', 'bad.parallels', '5M');
    expect(ours).toEqual({ ...s.qemuImgResult('create', '-q', '-f', 'parallels', '-o', 'cluster_size=0', 'bad.parallels', '5M'), code: 1 });
  });

  it('the old format is written with BAT entries in sectors', async () => {
    toOldMagic('small.parallels', 'old-written.parallels');
    expect(await s.ours(exe(), 'convert', '-n', '-O', 'parallels', 'frag.raw', 'old-written.parallels')).toMatchObject({ code: 0, stderr: '' });
    const raw = s.path('frag.raw');
    const patched = readFileSync(raw);
    s.qemuIo('old-written.parallels', 'write -P 0x66 5900k 8k'); // a fresh cluster by qemu, then ours read back
    patched.fill(0x66, 5900 * 1024, 5908 * 1024);
    writeFileSync(s.path('patched.raw'), patched);
    expectQemuAccepts(s, 'parallels', 'old-written.parallels', s.path('patched.raw'));
    await expectReadAsQemu(s, exe(), 'parallels', 'old-written.parallels', { map: false });
  });

  it('an image left in use is refused for writing and checked as qemu-img does', async () => {
    const bytes = readFileSync(s.path('small.parallels'));
    bytes.writeUInt32LE(0x746f6e59, 44);
    writeFileSync(s.path('in-use.parallels'), bytes);
    await expectReadAsQemu(s, exe(), 'parallels', 'in-use.parallels', { map: false, bytes: false, jsonCheck: true });
    const write = await s.ours(exe(), 'convert', '-n', '-O', 'parallels', 'frag.raw', 'in-use.parallels');
    expect(write).toMatchObject({ code: 1, stderr: "tessera-img: Could not open 'in-use.parallels': parallels: Image was not closed correctly; cannot be opened read/write\n" });
  });
});

describe('untrusted parallels input', () => {
  it('mutated headers and BATs give clear errors, no crash or hang', async () => {
    const image = new Uint8Array(readFileSync(s.path('old.parallels')));
    const fields = [0, 16, 20, 28, 32, 36, 40, 44, 48, 52, 56, 64, 68, 72, 76, 80];
    const { opened, refused } = await fuzzDriver(parallelsFormat, image, fields, { span: 256 });
    expect(opened).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  });
});
