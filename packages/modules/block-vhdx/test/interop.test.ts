// VHDX images made by qemu-img read here as qemu-img reads them (bytes, info, map), images
// written here pass `qemu-img check` and `qemu-img compare`, and new images have qemu-img's layout.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations } from '../../../../tools/test-support/executables.ts';
import { MiB, qemuIo, sh, tempDir, tool, writeFragmentedRaw } from '../../block-vpc/test/helpers.ts';

const { dir, remove } = tempDir('tessera-vhdx-');
const qemuImg = (...args: string[]) => sh(dir, 'qemu-img', args);
afterAll(remove);

const SOURCE_SIZE = 9 * MiB + 4096;
beforeAll(() => {
  writeFragmentedRaw(join(dir, 'src.raw'), SOURCE_SIZE, 61);
});

const variants = [
  { name: 'dynamic', options: 'subformat=dynamic' },
  { name: 'dynamic-1M-nonzero', options: 'block_size=1M,block_state_zero=off' },
  { name: 'fixed', options: 'subformat=fixed' },
  { name: 'fixed-nonzero', options: 'subformat=fixed,block_state_zero=off,block_size=2M' },
  { name: 'log-3M', options: 'log_size=3M,block_size=4M' },
];

const failure = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    return (error as { stderr: string }).stderr;
  }
  return '';
};

// The same driver code in both configurations: the static one runs one image each way, the
// modular one (the module loaded from its file) every case.
describe.each(configurations)('tessera-img (%s) with vhdx images', (configuration) => {
  const ours = (...args: string[]) => tool(configuration, dir, ...args);
  const full = configuration === 'modular';
  const cases = full ? variants : variants.slice(0, 1);

  // qemu's zero-block fixed image reads through the same paths as its dynamic one, and the log
  // size moves only the BAT and metadata, which the other images read already.
  describe.each(cases.filter((c) => c.name !== 'fixed' && c.name !== 'log-3M'))('made by qemu-img: $name', ({ name, options }) => {
    const image = `${configuration}-q-${name}.vhdx`;
    beforeAll(() => {
      qemuImg('convert', '-f', 'raw', '-O', 'vhdx', '-o', options, 'src.raw', image);
      qemuIo(dir, image, 'vhdx', 'write -P 0x5a 100k 3k', 'write -z 1M 200k', 'write -P 0x17 8191k 2k');
    });

    it('reads the same bytes, info and map as qemu-img', async () => {
      qemuImg('convert', '-O', 'raw', image, `${image}.q.raw`);
      const converted = await ours('convert', '-O', 'raw', image, `${image}.t.raw`);
      expect(converted.stderr).toBe('');
      expect(readFileSync(join(dir, `${image}.t.raw`)).equals(readFileSync(join(dir, `${image}.q.raw`)))).toBe(true);
      for (const args of [['info'], ['info', '--output=json'], ['map', '--output=json'], ['check']]) {
        const result = await ours(...args, image);
        expect({ args, out: result.stdout, code: result.code }).toEqual({ args, out: qemuImg(...args, image), code: 0 });
      }
    });

    it('writes into it so that qemu-img checks it and reads what was written', async () => {
      const copy = `${image}.rewritten.vhdx`;
      qemuImg('create', '-q', '-f', 'vhdx', '-o', options, copy, String(SOURCE_SIZE));
      const converted = await ours('convert', '-n', '-O', 'vhdx', 'src.raw', copy);
      expect(converted.stderr).toBe('');
      expect(qemuImg('check', copy)).toBe('No errors were found on the image.\n');
      expect(qemuImg('compare', '-f', 'raw', '-F', 'vhdx', 'src.raw', copy)).toContain('Images are identical.');
    });
  });

  describe.each(cases)('made here: $name', ({ name, options }) => {
    it('passes qemu-img check and reads back under qemu-img as written', async () => {
      const mine = `${configuration}-t-${name}.vhdx`;
      const converted = await ours('convert', '-O', 'vhdx', '-o', options, 'src.raw', mine);
      expect(converted.stderr).toBe('');
      expect(qemuImg('check', mine)).toBe('No errors were found on the image.\n');
      expect(qemuImg('compare', '-f', 'raw', '-F', 'vhdx', 'src.raw', mine)).toContain('Images are identical.');
      const theirs = `${configuration}-q-${name}-ref.vhdx`;
      qemuImg('convert', '-O', 'vhdx', '-o', options, 'src.raw', theirs);
      const info = (file: string) => ({ ...(JSON.parse(qemuImg('info', '--output=json', file)) as object), filename: undefined, 'actual-size': undefined });
      expect(info(mine)).toEqual(info(theirs));
    });
  });

  it.runIf(full)('creates images with qemu-img\'s layout for every option', async () => {
    for (const [size, options] of [
      ['10M', 'subformat=dynamic'],
      ['1000', 'block_state_zero=off'],
      ['3G', 'log_size=1500k'],
      ['150G', 'block_size=1M'],
      ['20M', 'subformat=fixed'],
      ['20M', 'subformat=fixed,block_state_zero=off,block_size=2M'],
      ['5M', 'block_size=300M,log_size=2M'],
    ] as const) {
      const mine = `${configuration}-create-${size}-${options}.vhdx`;
      const theirs = `q-create-${size}-${options}.vhdx`;
      const created = await ours('create', '-q', '-f', 'vhdx', '-o', options, mine, size);
      expect(created.stderr).toBe('');
      qemuImg('create', '-q', '-f', 'vhdx', '-o', options, theirs, size);
      expect({ size, options, layout: maskedLayout(join(dir, mine)) }).toEqual({ size, options, layout: maskedLayout(join(dir, theirs)) });
      expect(qemuImg('check', mine)).toBe('No errors were found on the image.\n');
    }
  });

  it.runIf(full)('refuses bad options with qemu-img\'s messages', async () => {
    for (const options of ['subformat=foo', 'block_state_zero=x', 'block_size=3M', 'log_size=0', 'log_size=5G']) {
      const result = await ours('create', '-q', '-f', 'vhdx', '-o', options, 'bad.vhdx', '10M');
      const expected = failure(() => qemuImg('create', '-q', '-f', 'vhdx', '-o', options, 'bad.vhdx', '10M'));
      expect({ options, code: result.code, stderr: result.stderr }).toEqual({ options, code: 1, stderr: expected.replaceAll('qemu-img', 'tessera-img') });
    }
    const tooLarge = await ours('create', '-q', '-f', 'vhdx', 'bad.vhdx', '65T');
    expect(tooLarge.stderr).toBe(failure(() => qemuImg('create', '-q', '-f', 'vhdx', 'bad.vhdx', '65T')).replaceAll('qemu-img', 'tessera-img'));
  });
});

/**
 * What a new image's layout must share with qemu-img's: the file size, the header fields but
 * its GUIDs and sequence number, the region table but the required flags, the metadata but the
 * disk id, and the whole BAT.
 */
function maskedLayout(path: string): Record<string, unknown> {
  const bytes = readFileSync(path);
  const header = Buffer.from(bytes.subarray(64 * 1024, 64 * 1024 + 4096));
  header.fill(0, 4, 48); // checksum, sequence number, file and data write GUIDs
  const regions = Buffer.from(bytes.subarray(192 * 1024, 192 * 1024 + 80));
  regions.fill(0, 4, 8);
  for (const entry of [16, 48]) regions.fill(0, entry + 28, entry + 32);
  const batOffset = Number(regions.readBigUInt64LE(16 + 16));
  const batLength = regions.readUInt32LE(16 + 24);
  const metadataOffset = Number(regions.readBigUInt64LE(48 + 16));
  const metadata = Buffer.from(bytes.subarray(metadataOffset, metadataOffset + 65536 + 64));
  metadata.fill(0, 65536 + 16, 65536 + 32); // the virtual disk id
  return {
    size: bytes.length,
    header: header.toString('hex'),
    regions: regions.toString('hex'),
    metadata: metadata.toString('hex'),
    bat: bytes.subarray(batOffset, batOffset + batLength).toString('hex'),
  };
}
