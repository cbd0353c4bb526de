// QED images made by qemu-img read here as qemu-img reads them (info, map, check, guest bytes,
// backing files); images written here pass qemu-img check and compare; need-check is honoured;
// the parser survives mutated headers and tables.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockNode } from '../../../core/src/index.ts';
import { configurations, executable } from '../../../../tools/test-support/executables.ts';
import {
  MemoryFile,
  digestOf,
  expectQemuAccepts,
  expectReadAsQemu,
  fuzzDriver,
  scratch,
  writeFragmentedRaw,
  type Scratch,
} from '../../../../tools/test-support/format-interop.ts';
import { qedFormat } from '../src/driver.ts';

let s: Scratch;
beforeAll(() => {
  s = scratch('qed');
  writeFragmentedRaw(s.path('frag.raw'));
  s.qemuImg('convert', '-O', 'qed', 'frag.raw', 'default.qed');
  s.qemuIo('default.qed', 'write -z 2M 64k', 'write -P 0x5a 100k 1k');
  s.qemuImg('convert', '-O', 'qed', '-o', 'cluster_size=4k,table_size=2', 'frag.raw', 'small.qed');
  s.qemuImg('convert', '-O', 'qcow2', 'frag.raw', 'base.qcow2');
  s.qemuImg('create', '-q', '-f', 'qed', '-b', 'base.qcow2', '-F', 'qcow2', 'over-qcow2.qed');
  s.qemuIo('over-qcow2.qed', 'write -P 0x33 4k 4k', 'write -z 1M 64k');
  s.qemuImg('create', '-q', '-f', 'qed', '-o', 'cluster_size=16k', '-b', 'frag.raw', '-F', 'raw', 'over-raw.qed', '8M');
  s.qemuIo('over-raw.qed', 'write -P 0x44 6100k 20k');
});
afterAll(() => s.remove());

describe('qed from qemu-img, read by tessera-img', () => {
  // Both configurations for one image (the module loads, or is linked in); the rest modular.
  it.each(configurations)('default (%s): same info, map, check and guest bytes', async (configuration) => {
    await expectReadAsQemu(s, executable('img-tool', configuration), 'qed', 'default.qed', { humanMap: configuration === 'modular', jsonCheck: true });
  });
  it.each(['small', 'over-qcow2', 'over-raw'])('%s: same info, map, check and guest bytes', async (name) => {
    await expectReadAsQemu(s, executable('img-tool', 'modular'), 'qed', `${name}.qed`);
  });
});

describe('qed written by tessera-img', () => {
  const exe = () => executable('img-tool', 'modular');

  it.each([[''], ['cluster_size=4k,table_size=2']])('convert -O qed -o "%s" of a fragmented raw image passes qemu-img check and compare', async (options) => {
    const image = `written-${options.replace(/\W/g, '-')}.qed`;
    const args = options ? ['-o', options] : [];
    expect(await s.ours(exe(), 'convert', '-O', 'qed', ...args, 'frag.raw', image)).toMatchObject({ code: 0, stderr: '' });
    expectQemuAccepts(s, 'qed', image, s.path('frag.raw'));
    expect(readFileSync(s.path(image))[16]! & 2).toBe(0); // need-check is off after a clean close
  });

  it('create -b names the backing file as qemu-img does; partial writes copy the rest of the cluster from it', async () => {
    expect(await s.ours(exe(), 'create', '-f', 'qed', '-b', 'frag.raw', '-F', 'raw', 'ours-over-raw.qed')).toMatchObject({ code: 0, stderr: '' });
    s.qemuImg('create', '-q', '-f', 'qed', '-b', 'frag.raw', '-F', 'raw', 'theirs-over-raw.qed');
    expect(digestOf(s.path('ours-over-raw.qed'))).toBe(digestOf(s.path('theirs-over-raw.qed')));

    // In-process: writes smaller than a cluster over a backing file, then qemu-img judges the result.
    const backing = new MemoryFile(new Uint8Array(readFileSync(s.path('frag.raw'))));
    const file = new MemoryFile(new Uint8Array(readFileSync(s.path('ours-over-raw.qed'))));
    const node = await qedFormat.open(file, { readOnly: false, driverOptions: {}, openRelative: async () => backing as BlockNode });
    const patch = new Uint8Array(3000).fill(0x77);
    await node.write(70_000, patch);
    await node.write(3_000_100, patch);
    expect(file.bytes[16]! & 2).toBe(2); // need-check while tables change
    await node.close();
    expect(file.bytes[16]! & 2).toBe(0);
    writeFileSync(s.path('ours-written.qed'), file.bytes);
    const expected = new Uint8Array(backing.bytes);
    expected.set(patch, 70_000);
    expected.set(patch, 3_000_100);
    writeFileSync(s.path('expected.raw'), expected);
    expectQemuAccepts(s, 'qed', 'ours-written.qed', s.path('expected.raw'));
  });

  it('an image left with need-check set is checked and cleaned when opened for writing, as qemu does', async () => {
    s.qemuImg('convert', '-O', 'qed', 'frag.raw', 'dirty.qed');
    const bytes = readFileSync(s.path('dirty.qed'));
    bytes.writeUInt8(bytes.readUInt8(16) | 2, 16);
    writeFileSync(s.path('dirty.qed'), bytes);
    await expectReadAsQemu(s, exe(), 'qed', 'dirty.qed', { map: false, bytes: false });
    expect(await s.ours(exe(), 'convert', '-n', '-O', 'qed', 'frag.raw', 'dirty.qed')).toMatchObject({ code: 0, stderr: '' });
    expect(readFileSync(s.path('dirty.qed'))[16]! & 2).toBe(0);
    expectQemuAccepts(s, 'qed', 'dirty.qed', s.path('frag.raw'));
  });

  it('bad create options are refused in qemu-img words', async () => {
    const cases: [string, string][] = [
      ['cluster_size=1k', 'QED cluster size must be within range [4096, 67108864] and power of 2'],
      ['table_size=3', 'QED table size must be within range [1, 16] and power of 2'],
    ];
    for (const [options, message] of cases) {
      const ours = await s.ours(exe(), 'create', '-f', 'qed', '-o', options, 'bad.qed', '1M');
      expect(ours.code).toBe(1);
      expect(ours.stderr).toContain(message);
    }
    const big = await s.ours(exe(), 'create', '-f', 'qed', '-o', 'cluster_size=4k,table_size=1', 'bad.qed', '2G');
    expect(big.stderr).toContain('QED image size must be a non-zero multiple of cluster size and less than 1073741824 bytes');
  });
});

describe('untrusted qed input', () => {
  it('mutated headers and tables give clear errors, no crash or hang', async () => {
    const image = new Uint8Array(readFileSync(s.path('small.qed')));
    // Header fields, the L1 table (at 4 KiB) and the first L2 table it points to.
    const l2 = Number(new DataView(image.buffer).getBigUint64(4096, true));
    const fields = [4, 8, 12, 16, 24, 32, 40, 48, 56, 60, 4096, 4104, l2, l2 + 8, l2 + 64];
    const { opened, refused } = await fuzzDriver(qedFormat, image, fields, { span: 128 });
    expect(opened).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  });
});
