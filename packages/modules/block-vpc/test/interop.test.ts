// VHD images made by qemu-img read here as qemu-img reads them (bytes, info, map), and images
// written here read back under qemu-img as written (`qemu-img compare`; qemu-img has no vpc check).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations } from '../../../../tools/test-support/executables.ts';
import { MiB, qemuIo, sh, tempDir, tool, writeFragmentedRaw } from './helpers.ts';

const { dir, remove } = tempDir('tessera-vpc-');
const qemuImg = (...args: string[]) => sh(dir, 'qemu-img', args);
afterAll(remove);

// 5 MiB + 1.5 KiB: not a CHS size, not a whole number of 2 MiB blocks.
const SOURCE_SIZE = 5 * MiB + 1536;
beforeAll(() => {
  writeFragmentedRaw(join(dir, 'src.raw'), SOURCE_SIZE, 16);
});

const variants = [
  { name: 'dynamic', options: 'subformat=dynamic' },
  { name: 'dynamic-force', options: 'subformat=dynamic,force_size=on' },
  { name: 'fixed', options: 'subformat=fixed' },
  { name: 'fixed-force', options: 'subformat=fixed,force_size=on' },
];

// The driver is the same code in both configurations: the static one (module linked in) runs
// one image each way, the modular one (module loaded from its file) every case.
describe.each(configurations)('tessera-img (%s) with vpc images', (configuration) => {
  const ours = (...args: string[]) => tool(configuration, dir, ...args);
  const full = configuration === 'modular';
  const cases = full ? variants : variants.slice(0, 1);

  describe.each(cases)('made by qemu-img: $name', ({ name, options }) => {
    const image = `${configuration}-q-${name}.vpc`;
    beforeAll(() => {
      qemuImg('convert', '-f', 'raw', '-O', 'vpc', '-o', options, 'src.raw', image);
      qemuIo(dir, image, 'vpc', 'write -P 0x5a 100k 3k', 'write -z 1M 200k', 'write -P 0x17 4095k 2k');
    });

    it('reads the same bytes, info and map as qemu-img', async () => {
      qemuImg('convert', '-f', 'vpc', '-O', 'raw', image, `${image}.q.raw`);
      const converted = await ours('convert', '-f', 'vpc', '-O', 'raw', image, `${image}.t.raw`);
      expect(converted.stderr).toBe('');
      expect(readFileSync(join(dir, `${image}.t.raw`)).equals(readFileSync(join(dir, `${image}.q.raw`)))).toBe(true);
      for (const args of [['info'], ['info', '--output=json'], ['map', '--output=json']]) {
        const result = await ours(...args, '-f', 'vpc', image);
        expect({ args, out: result.stdout, code: result.code }).toEqual({ args, out: qemuImg(...args, '-f', 'vpc', image), code: 0 });
      }
    });

    it('writes into it so that qemu-img reads what was written', async () => {
      const copy = `${image}.rewritten.vpc`;
      qemuImg('create', '-q', '-f', 'vpc', '-o', options, copy, String(SOURCE_SIZE));
      const converted = await ours('convert', '-n', '-f', 'raw', '-O', 'vpc', 'src.raw', copy);
      expect(converted.stderr).toBe('');
      expect(sh(dir, 'qemu-img', ['compare', '-f', 'raw', '-F', 'vpc', 'src.raw', copy])).toContain('Images are identical.');
    });
  });

  describe.each(cases)('made here: $name', ({ name, options }) => {
    it('has qemu-img\'s size and metadata, and qemu-img reads the data written', async () => {
      const mine = `${configuration}-t-${name}.vpc`;
      const theirs = `${configuration}-q-${name}-ref.vpc`;
      const converted = await ours('convert', '-f', 'raw', '-O', 'vpc', '-o', options, 'src.raw', mine);
      expect(converted.stderr).toBe('');
      qemuImg('convert', '-f', 'raw', '-O', 'vpc', '-o', options, 'src.raw', theirs);
      const info = (file: string) => JSON.parse(qemuImg('info', '-f', 'vpc', '--output=json', file)) as Record<string, unknown>;
      expect(info(mine)['virtual-size']).toBe(info(theirs)['virtual-size']);
      expect(sh(dir, 'qemu-img', ['compare', '-f', 'raw', '-F', 'vpc', 'src.raw', mine])).toContain('Images are identical.');
      expect(maskedMetadata(join(dir, mine))).toEqual(maskedMetadata(join(dir, theirs)));
    });
  });

  it.runIf(full)('creates every size with qemu-img\'s geometry and layout', async () => {
    // One size per branch of the CHS algorithm (17, 31, 63 and 255 sectors per track, then past
    // the largest geometry, where the footer's size is used), and force_size, which skips it.
    const sizes = [...['1000', '10M', '200M', '1G', '40G', '130G'].map((size) => [size, 'subformat=dynamic']), ['1000', 'force_size=on'], ['10M', 'force_size=on']];
    for (const [size, options] of sizes as [string, string][]) {
      const mine = `${configuration}-create-${size}-${options}.vpc`;
      const theirs = `q-create-${size}-${options}.vpc`;
      const created = await ours('create', '-q', '-f', 'vpc', '-o', options, mine, size);
      expect(created.stderr).toBe('');
      qemuImg('create', '-q', '-f', 'vpc', '-o', options, theirs, size);
      expect({ size, options, meta: maskedMetadata(join(dir, mine)) }).toEqual({ size, options, meta: maskedMetadata(join(dir, theirs)) });
      const info = (text: string) => ({ ...(JSON.parse(text) as object), filename: undefined });
      expect(info((await ours('info', '--output=json', mine)).stdout)).toEqual(info(qemuImg('info', '--output=json', theirs)));
    }
  });

  it.runIf(full)('refuses bad options with qemu-img\'s messages', async () => {
    for (const options of ['subformat=foo', 'force_size=maybe']) {
      const result = await ours('create', '-q', '-f', 'vpc', '-o', options, `${configuration}-bad.vpc`, '1M');
      let expected = '';
      try {
        qemuImg('create', '-q', '-f', 'vpc', '-o', options, 'q-bad.vpc', '1M');
      } catch (error) {
        expected = (error as { stderr: string }).stderr.replaceAll('qemu-img', 'tessera-img').replaceAll('q-bad.vpc', `${configuration}-bad.vpc`);
      }
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 1, stderr: expected });
    }
  });

  it.runIf(full)('takes the size from the footer or the geometry by creator, as qemu-img does', async () => {
    // Hyper-V ("win "), Disk2vhd, XenServer and qemu's force_size mark the footer's size as the
    // disk's; Virtual PC and others leave the geometry's. One image, re-signed per creator.
    qemuImg('create', '-q', '-f', 'vpc', 'creator.vpc', '10M');
    const original = readFileSync(join(dir, 'creator.vpc'));
    for (const creator of ['win ', 'vpc ', 'd2v ', 'tap\0', 'CTXS', 'vs  ']) {
      const bytes = Buffer.from(original);
      bytes.write(creator, 28, 'latin1');
      bytes.writeBigUInt64BE(10n * 2n ** 20n + 4096n, 48); // a current size unlike the geometry's
      bytes.writeUInt32BE(0, 64);
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += bytes[i]!;
      bytes.writeUInt32BE(~sum >>> 0, 64);
      const image = `${configuration}-creator.vpc`;
      writeFileSync(join(dir, image), bytes);
      const ourInfo = await ours('info', '--output=json', image);
      expect({ creator, info: ourInfo.stdout }).toEqual({ creator, info: qemuImg('info', '--output=json', image) });
    }
  });

  it('refuses a footer with a bad checksum as qemu-img does', async () => {
    const image = `${configuration}-badsum.vpc`;
    qemuImg('create', '-q', '-f', 'vpc', image, '4M');
    const bytes = readFileSync(join(dir, image));
    bytes[100]! ^= 1; // in the footer copy at the start, which both read
    writeFileSync(join(dir, image), bytes);
    const result = await ours('info', image);
    expect(result.code).toBe(1);
    let qemuMessage = '';
    try {
      qemuImg('info', image);
    } catch (error) {
      qemuMessage = (error as { stderr: string }).stderr;
    }
    expect(result.stderr).toBe(qemuMessage.replaceAll('qemu-img', 'tessera-img'));
  });
});

/**
 * An image's metadata with what is different in every image (timestamp, unique id and the
 * checksums over them) masked: the footer at the end, and for a dynamic image the footer copy,
 * dynamic header and BAT at the start.
 */
function maskedMetadata(path: string): string {
  const bytes = readFileSync(path);
  const footer = Buffer.from(bytes.subarray(bytes.length - 512));
  const mask = (b: Buffer, at: number) => {
    b.fill(0, at + 24, at + 28); // timestamp
    b.fill(0, at + 64, at + 84); // checksum, unique id
  };
  mask(footer, 0);
  const dynamic = footer.readBigUInt64BE(16) !== 0xffffffffffffffffn;
  if (!dynamic) return footer.toString('hex');
  const entries = bytes.readUInt32BE(512 + 28);
  const head = Buffer.from(bytes.subarray(0, 1536 + Math.ceil((entries * 4) / 512) * 512));
  mask(head, 0);
  // The BAT's entries differ with the order blocks were written in; whether each is allocated does not.
  for (let i = 0; i < entries; i++) if (head.readUInt32BE(1536 + i * 4) !== 0xffffffff) head.writeUInt32BE(0, 1536 + i * 4);
  return `${footer.toString('hex')} ${head.toString('hex')}`;
}
