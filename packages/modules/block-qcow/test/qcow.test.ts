// qcow (version 1) images made by qemu-img read here as qemu-img reads them (info, map, check
// verdict, guest bytes; compressed clusters and backing files too); images written here compare
// equal under qemu-img; encryption is refused clearly; the parser survives mutated headers and tables.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockNode } from '../../../core/src/index.ts';
import { configurations, executable } from '../../../../tools/test-support/executables.ts';
import { MemoryFile, digestOf, expectQemuAccepts, expectReadAsQemu, fuzzDriver, scratch, writeFragmentedRaw, type Scratch } from '../../../../tools/test-support/format-interop.ts';
import { qcowFormat } from '../src/driver.ts';

let s: Scratch;

/**
 * qemu-img convert -c -O qcow: qemu-img 7.2 writes the image and then exits 1 without a message
 * (its final zero-length compressed write fails for qcow), so the copy is judged by compare.
 */
function compressedCopy(from: string, to: string): void {
  s.qemuImgResult('convert', '-c', '-O', 'qcow', from, to);
  expect(s.qemuImg('compare', '-f', 'qcow', '-F', 'raw', to, from)).toBe('Images are identical.\n');
}
beforeAll(() => {
  s = scratch('qcow');
  writeFragmentedRaw(s.path('frag.raw'));
  s.qemuImg('convert', '-O', 'qcow', 'frag.raw', 'plain.qcow');
  s.qemuIo('plain.qcow', 'write -P 0x5a 100k 1k');
  compressedCopy('frag.raw', 'compressed.qcow');
  s.qemuImg('create', '-q', '-f', 'qcow', '-b', 'frag.raw', '-F', 'raw', 'backed.qcow');
  s.qemuIo('backed.qcow', 'write -P 0x33 1k 1k', 'write -P 0x44 3000000 100k');
});
afterAll(() => s.remove());

describe('qcow from qemu-img, read by tessera-img', () => {
  // Both configurations for one image (the module loads, or is linked in); the rest modular.
  // qemu-img does not check qcow: the same "does not support checks" answer is expected.
  it.each(configurations)('plain (%s): same info, map, check answer and guest bytes', async (configuration) => {
    await expectReadAsQemu(s, executable('img-tool', configuration), 'qcow', 'plain.qcow', { humanMap: configuration === 'modular' });
  });
  it.each(['compressed', 'backed'])('%s: same info, map, check answer and guest bytes', async (name) => {
    await expectReadAsQemu(s, executable('img-tool', 'modular'), 'qcow', `${name}.qcow`, { humanMap: true });
  });
});

describe('qcow written by tessera-img', () => {
  const exe = () => executable('img-tool', 'modular');

  it('convert -O qcow of a fragmented raw image compares equal under qemu-img, with qemu-img\'s layout', async () => {
    expect(await s.ours(exe(), 'convert', '-O', 'qcow', 'frag.raw', 'written.qcow')).toMatchObject({ code: 0, stderr: '' });
    expectQemuAccepts(s, 'qcow', 'written.qcow', s.path('frag.raw'), { checks: false });
    const info = (name: string) => {
      const { filename: _f, 'actual-size': _a, ...rest } = JSON.parse(s.qemuImg('info', '--output=json', name)) as Record<string, unknown>;
      return rest;
    };
    expect(info('written.qcow')).toEqual(info('plain.qcow'));
  });

  it('create -b lays out the image as qemu-img does; partial writes over the backing file keep its bytes', async () => {
    expect(await s.ours(exe(), 'create', '-q', '-f', 'qcow', '-b', 'frag.raw', '-F', 'raw', 'ours-backed.qcow')).toMatchObject({ code: 0, stderr: '' });
    s.qemuImg('create', '-q', '-f', 'qcow', '-b', 'frag.raw', '-F', 'raw', 'theirs-backed.qcow');
    expect(digestOf(s.path('ours-backed.qcow'))).toBe(digestOf(s.path('theirs-backed.qcow')));

    const backing = new MemoryFile(new Uint8Array(readFileSync(s.path('frag.raw'))));
    const file = new MemoryFile(new Uint8Array(readFileSync(s.path('ours-backed.qcow'))));
    const node = await qcowFormat.open(file, { readOnly: false, driverOptions: {}, openRelative: async () => backing as BlockNode });
    const patch = new Uint8Array(300).fill(0x77);
    await node.write(70_100, patch);
    await node.write(1_100_000, patch);
    await node.close();
    writeFileSync(s.path('ours-written.qcow'), file.bytes);
    const expected = new Uint8Array(backing.bytes);
    expected.set(patch, 70_100);
    expected.set(patch, 1_100_000);
    writeFileSync(s.path('expected.raw'), expected);
    expectQemuAccepts(s, 'qcow', 'ours-written.qcow', s.path('expected.raw'), { checks: false });
  });

  it('writes into compressed clusters rewrite them uncompressed', async () => {
    compressedCopy('frag.raw', 'rewritten.qcow');
    const expected = readFileSync(s.path('frag.raw'));
    expected.fill(0x12, 1_499_136, 1_499_236);
    writeFileSync(s.path('rewritten.raw'), expected);
    const file = new MemoryFile(new Uint8Array(readFileSync(s.path('rewritten.qcow'))));
    const node = await qcowFormat.open(file, { readOnly: false, driverOptions: {} });
    expect(await node.blockStatus!(1_499_136, 4096)).toMatchObject({ data: true }); // compressed: no offset
    expect((await node.blockStatus!(1_499_136, 4096)).offset).toBeUndefined();
    await node.write(1_499_136, new Uint8Array(100).fill(0x12));
    expect((await node.blockStatus!(1_499_136, 4096)).offset).toBeDefined();
    await node.close();
    writeFileSync(s.path('rewritten.qcow'), file.bytes);
    expectQemuAccepts(s, 'qcow', 'rewritten.qcow', s.path('rewritten.raw'), { checks: false });
  });

  it('encryption is refused with a clear unsupported-feature error, creating and opening', async () => {
    const create = await s.ours(exe(), 'create', '-q', '-f', 'qcow', '-o', 'encryption=on', 'enc.qcow', '1M');
    expect(create.code).toBe(1);
    expect(create.stderr).toContain('encrypted qcow images are not supported');
    s.qemuImg('create', '-q', '-f', 'qcow', '--object', 'secret,id=s0,data=pw', '-o', 'encrypt.format=aes,encrypt.key-secret=s0', 'enc.qcow', '1M');
    const open = await s.ours(exe(), 'info', 'enc.qcow');
    expect(open.code).toBe(1);
    expect(open.stderr).toContain('encrypted qcow images (AES-CBC) are not supported');
    await expect(qcowFormat.open(new MemoryFile(new Uint8Array(readFileSync(s.path('enc.qcow')))), { readOnly: true, driverOptions: {} })).rejects.toMatchObject({ code: 'unsupported-feature' });
  });
});

describe('untrusted qcow input', () => {
  it('mutated headers, tables and compressed entries give clear errors, no crash or hang', async () => {
    const image = new Uint8Array(readFileSync(s.path('compressed.qcow')));
    const view = new DataView(image.buffer);
    const l1 = Number(view.getBigUint64(40));
    const l2 = Number(view.getBigUint64(l1));
    // Header fields, the L1 table, and L2 entries around the compressed clusters (bit 63, size bits).
    const fields = [4, 8, 16, 24, 32, 33, 36, 40, l1, l1 + 8, l2, l2 + 8, l2 + 360, l2 + 368, l2 + 376];
    const { opened, refused } = await fuzzDriver(qcowFormat, image, fields, { span: 64 });
    expect(opened).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  });
});
