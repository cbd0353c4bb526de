// VDI images made by qemu-img read here as qemu-img reads them (info, map, check, guest bytes);
// images written here pass qemu-img check and compare; the parser survives mutated headers and maps.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable } from '../../../../tools/test-support/executables.ts';
import {
  expectQemuAccepts,
  expectReadAsQemu,
  fuzzDriver,
  scratch,
  writeFragmentedRaw,
  type Scratch,
} from '../../../../tools/test-support/format-interop.ts';
import { vdiFormat } from '../src/driver.ts';

let s: Scratch;
beforeAll(() => {
  s = scratch('vdi');
  writeFragmentedRaw(s.path('frag.raw'));
  s.qemuImg('convert', '-O', 'vdi', 'frag.raw', 'dynamic.vdi');
  s.qemuIo('dynamic.vdi', 'write -P 0x5a 5000k 3k');
  s.qemuImg('create', '-q', '-f', 'vdi', '-o', 'static=on', 'static.vdi', '5M');
  s.qemuIo('static.vdi', 'write -P 0x11 1100k 64k', 'write -P 0x22 4M 512');
});
afterAll(() => s.remove());

describe('vdi from qemu-img, read by tessera-img', () => {
  // Both configurations for one image (the module loads, or is linked in); the rest modular.
  it.each(configurations)('dynamic (%s): same info, map, check and guest bytes', async (configuration) => {
    await expectReadAsQemu(s, executable('img-tool', configuration), 'vdi', 'dynamic.vdi', { humanMap: configuration === 'modular', jsonCheck: true });
  });
  it('static: same info, map, check and guest bytes', async () => {
    await expectReadAsQemu(s, executable('img-tool', 'modular'), 'vdi', 'static.vdi', { humanMap: true });
  });
});

describe('vdi written by tessera-img', () => {
  const exe = () => executable('img-tool', 'modular');

  it.each(['off', 'on'])('convert -O vdi -o static=%s of a fragmented raw image passes qemu-img check and compare', async (isStatic) => {
    const image = `written-static-${isStatic}.vdi`;
    expect(await s.ours(exe(), 'convert', '-O', 'vdi', '-o', `static=${isStatic}`, 'frag.raw', image)).toMatchObject({ code: 0, stderr: '' });
    expectQemuAccepts(s, 'vdi', image, s.path('frag.raw'));
    // The layout is qemu's: same info as qemu-img's own conversion (the allocated size apart for a dynamic image).
    s.qemuImg('convert', '-O', 'vdi', '-o', `static=${isStatic}`, 'frag.raw', `qemu-${image}`);
    const info = (name: string) => JSON.parse(s.qemuImg('info', '--output=json', name)) as Record<string, unknown>;
    const { filename: _a, 'actual-size': _b, ...ours } = info(image);
    const { filename: _c, 'actual-size': _d, ...theirs } = info(`qemu-${image}`);
    expect(ours).toEqual(theirs);
    expect(readFileSync(s.path(image)).length).toBe(readFileSync(s.path(`qemu-${image}`)).length);
  });

  it('create, then writes here, leave an image qemu-img checks clean and reads as written', async () => {
    expect(await s.ours(exe(), 'create', '-f', 'vdi', 'made.vdi', '6M')).toMatchObject({ code: 0, stderr: '' });
    expect(await s.ours(exe(), 'convert', '-n', '-O', 'vdi', 'frag.raw', 'made.vdi')).toMatchObject({ code: 0, stderr: '' });
    expectQemuAccepts(s, 'vdi', 'made.vdi', s.path('frag.raw'));
    expect(await s.ours(exe(), 'create', '-f', 'vdi', '-o', 'static=maybe', 'bad.vdi', '1M')).toMatchObject({ code: 1, stderr: expect.stringContaining("Parameter 'static' expects 'on' or 'off'") });
  });

  it('an image in another VDI variant is refused naming what is unsupported', async () => {
    const bytes = readFileSync(s.path('dynamic.vdi'));
    bytes.writeUInt32LE(65536, 0x178); // block size
    writeFileSync(s.path('bad-block.vdi'), bytes);
    const result = await s.ours(exe(), 'info', 'bad-block.vdi');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('unsupported VDI image (block size 65536 is not 1048576)');
  });
});

describe('untrusted vdi input', () => {
  it('mutated headers and block maps give clear errors, no crash or hang', async () => {
    const image = new Uint8Array(readFileSync(s.path('dynamic.vdi')));
    // Header fields (type, offsets, sizes, counts, UUIDs) and the first block-map entries.
    const fields = [0x40, 0x44, 0x4c, 0x154, 0x158, 0x168, 0x170, 0x178, 0x17c, 0x180, 0x184, 0x1a8, 0x1b8, 0x200, 0x204, 0x208];
    const { opened, refused } = await fuzzDriver(vdiFormat, image, fields, { span: 0x220 });
    expect(opened).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  });
});
