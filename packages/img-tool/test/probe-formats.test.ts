// Format probing: every format qemu-img 7.2 recognises by content is recognised here too, and one
// without a driver in tessera-img is refused by name (exit 1, nothing written), never read as raw.
// Images made by the real qemu-img where it can create them, crafted from the published layouts
// where it cannot (bochs, cloop, VMware's COWD, a DMG trailer).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { executable, run } from '../../../tools/test-support/executables.ts';
import { configurations, MiB, qemuImg, tempDir, tool, type Configuration } from './helpers.ts';

interface Fixture {
  readonly file: string;
  readonly format: string;
  /** What qemu-img's own probe says: the format, or raw where tessera-img is stricter. */
  readonly qemuSays: string;
}

const FIXTURES: readonly Fixture[] = [
  { file: 'a.qcow', format: 'qcow', qemuSays: 'qcow' },
  { file: 'sparse.vmdk', format: 'vmdk', qemuSays: 'vmdk' },
  { file: 'descriptor.vmdk', format: 'vmdk', qemuSays: 'vmdk' }, // monolithicFlat: a text descriptor
  { file: 'stream.vmdk', format: 'vmdk', qemuSays: 'vmdk' },
  { file: 'esx.cowd', format: 'vmdk', qemuSays: 'vmdk' },
  { file: 'a.vdi', format: 'vdi', qemuSays: 'vdi' },
  { file: 'dynamic.vhd', format: 'vpc', qemuSays: 'vpc' },
  { file: 'fixed.vhd', format: 'vpc', qemuSays: 'raw' }, // the footer only in the last sector
  { file: 'a.vhdx', format: 'vhdx', qemuSays: 'vhdx' },
  { file: 'a.qed', format: 'qed', qemuSays: 'qed' },
  { file: 'a.parallels', format: 'parallels', qemuSays: 'parallels' },
  { file: 'a.luks', format: 'luks', qemuSays: 'luks' },
  { file: 'a.bochs', format: 'bochs', qemuSays: 'bochs' },
  { file: 'a.cloop', format: 'cloop', qemuSays: 'cloop' },
  { file: 'trailer.img', format: 'dmg', qemuSays: 'raw' }, // a UDIF trailer, any name
  { file: 'named.dmg', format: 'dmg', qemuSays: 'dmg' }, // qemu's dmg probe goes by the name
];

/** Formats a loadable module of tessera-img reads: probed the same, then opened by their driver. */
const WITH_DRIVER = new Set(['bochs', 'cloop', 'dmg', 'qcow', 'vdi', 'qed', 'parallels', 'vmdk', 'vpc', 'vhdx', 'luks']);
/**
 * Formats no module reads, refused by name. Empty since block-luks: every format qemu-img 7.2
 * probes has a driver; the refusal tests stay for a format a later qemu adds before a module does.
 */
const REFUSED = FIXTURES.filter((fixture) => !WITH_DRIVER.has(fixture.format));

const padded = (head: Buffer, size = MiB): Buffer => Buffer.concat([head, Buffer.alloc(size - head.length)]);
const cString = (text: string, length: number): Buffer => Buffer.concat([Buffer.from(text, 'latin1'), Buffer.alloc(length - text.length)]);

/** The images qemu-img cannot create, from their layouts. */
function craft(dir: string): void {
  // VMware ESX sparse extent (VMDK3): "COWD", version 1, flags, sectors, granularity, GD offset/size;
  // the descriptor qemu reads with it at 0x200.
  const cowd = Buffer.alloc(0x400);
  cowd.write('COWD', 0, 'latin1');
  [1, 3, 2048, 16, 4, 64, 2048].forEach((value, i) => cowd.writeUInt32LE(value, 4 + 4 * i));
  cowd.write('# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="vmfsSparse"\n', 0x200, 'latin1');
  writeFileSync(join(dir, 'esx.cowd'), padded(cowd));
  // Bochs growing redolog: magic, type, subtype, version 2.0, header size, catalog, bitmap, extent, disk size.
  const bochs = Buffer.alloc(512);
  cString('Bochs Virtual HD Image', 32).copy(bochs, 0);
  cString('Redolog', 16).copy(bochs, 32);
  cString('Growing', 16).copy(bochs, 48);
  [0x20000, 512, 512, 1, 8192, 0].forEach((value, i) => bochs.writeUInt32LE(value, 64 + 4 * i));
  bochs.writeBigUInt64LE(BigInt(MiB), 88);
  writeFileSync(join(dir, 'a.bochs'), padded(bochs));
  // cloop 2.0: the shell-script preamble, then block size and count (big-endian) at 128.
  const cloop = Buffer.alloc(136);
  cloop.write('#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n', 0, 'latin1');
  cloop.writeUInt32BE(65536, 128);
  cloop.writeUInt32BE(1, 132);
  writeFileSync(join(dir, 'a.cloop'), padded(cloop));
  // DMG (UDIF): the 512-byte "koly" trailer at the end of the file, version 4, header size 512.
  const dmg = Buffer.alloc(MiB);
  dmg.write('koly', MiB - 512, 'latin1');
  dmg.writeUInt32BE(4, MiB - 508);
  dmg.writeUInt32BE(512, MiB - 504);
  writeFileSync(join(dir, 'trailer.img'), dmg);
  writeFileSync(join(dir, 'named.dmg'), Buffer.alloc(MiB));
}

async function created(args: string[], dir: string): Promise<void> {
  const result = await qemuImg(['create', '-q', ...args], dir);
  if (result.code !== 0) throw new Error(`qemu-img create ${args.join(' ')}: ${result.stderr}`);
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

let dir: string;

beforeAll(async () => {
  dir = await tempDir();
  await Promise.all([
    created(['-f', 'qcow', 'a.qcow', '1M'], dir),
    created(['-f', 'vmdk', 'sparse.vmdk', '1M'], dir),
    created(['-f', 'vmdk', '-o', 'subformat=monolithicFlat', 'descriptor.vmdk', '1M'], dir),
    created(['-f', 'vmdk', '-o', 'subformat=streamOptimized', 'stream.vmdk', '1M'], dir),
    created(['-f', 'vdi', 'a.vdi', '1M'], dir),
    created(['-f', 'vpc', 'dynamic.vhd', '1M'], dir),
    created(['-f', 'vpc', '-o', 'subformat=fixed', 'fixed.vhd', '1M'], dir),
    created(['-f', 'vhdx', 'a.vhdx', '1M'], dir),
    created(['-f', 'qed', 'a.qed', '1M'], dir),
    created(['-f', 'parallels', 'a.parallels', '1M'], dir),
    created(['-f', 'raw', 'target.raw', '1M'], dir),
  ]);
  // qemu times its key derivation and fails ("Unable to get accurate CPU usage") when a short
  // iter-time is not measurable under load: try again then.
  for (let attempt = 1; ; attempt++) {
    try {
      await created(['-f', 'luks', '--object', 'secret,id=s0,data=pw', '-o', 'key-secret=s0,iter-time=100', 'a.luks', '1M'], dir);
      break;
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
  craft(dir);
}, 120_000);

it('the fixtures are what qemu-img 7.2 probes them as (raw where tessera-img is stricter)', async () => {
  for (const { file, qemuSays } of FIXTURES) {
    const info = await qemuImg(['info', '--output=json', file], dir);
    // qemu-img opens most; for a DMG without a valid trailer it fails in its dmg driver.
    if (qemuSays === 'dmg') expect(info.stderr, file).toMatch(/UDIF trailer in dmg file/);
    else expect((JSON.parse(info.stdout) as { format: string }).format, file).toBe(qemuSays);
  }
});

describe.skipIf(REFUSED.length === 0).each(configurations)('an image in a format without a driver here (%s)', (configuration: Configuration) => {
  it.each(REFUSED)('$file: info refuses it as $format', async ({ file, format }) => {
    const result = await tool(configuration, ['info', file], dir);
    expect(result.stderr).toBe(
      `tessera-img: Could not open '${file}': the image is in ${format} format, which this program has no driver for; ` +
        `convert it with qemu-img (qemu-img convert -O qcow2 SOURCE TARGET.qcow2) and use the result, ` +
        `or specify the 'raw' format explicitly if it is a raw disk\n`,
    );
    expect(result.stdout).toBe('');
    expect(result.code).toBe(1);
  });
});

describe.each(configurations)('an image in a format a loadable module reads (%s)', (configuration: Configuration) => {
  it.each(FIXTURES.filter((fixture) => WITH_DRIVER.has(fixture.format)))('$file: probed as $format and opened by its driver', async ({ file, format, qemuSays }) => {
    const ours = await tool(configuration, ['info', file], dir);
    if (qemuSays === format) {
      // qemu-img probes it the same: the same answer (less Debian's note that its optional dmg decompressors are not installed).
      const qemu = await qemuImg(['info', file], dir);
      const stderr = qemu.stderr.replace(/^qemu: module block-block-dmg-\w+ not found, .*\n/gm, '').replaceAll('qemu-img', 'tessera-img');
      expect(ours).toEqual({ code: qemu.code, stdout: qemu.stdout, stderr });
    } else if (format === 'vpc') {
      // A fixed VHD has its footer only at the end (qemu probes raw): opened as vpc, the footer is not guest data.
      expect(ours.stdout).toContain('file format: vpc\n');
      expect(ours.code).toBe(0);
    } else {
      // Only a trailer says so (qemu probes raw): the dmg driver judges it, and this one has no chunk tables.
      expect(ours.stderr).toBe(`tessera-img: Could not open '${file}': the image has neither a resource fork nor an XML property list\n`);
      expect(ours.code).toBe(1);
    }
  });
});

describe('convert refuses it too, creating nothing and changing nothing (modular)', () => {
  it.skipIf(REFUSED.length === 0).each(REFUSED)('$file', async ({ file, format }) => {
    const before = sha(join(dir, file));
    const output = `${file}.out.raw`;
    const fresh = await tool('modular', ['convert', '-O', 'raw', file, output], dir);
    expect(fresh.stderr).toContain(`Could not open '${file}': the image is in ${format} format`);
    expect(fresh.code).toBe(1);
    expect(existsSync(join(dir, output))).toBe(false);

    const targetBefore = sha(join(dir, 'target.raw'));
    const into = await tool('modular', ['convert', '-n', '-O', 'raw', file, 'target.raw'], dir);
    expect(into.stderr).toContain(`the image is in ${format} format`);
    expect(into.code).toBe(1);
    expect(sha(join(dir, 'target.raw'))).toBe(targetBefore);
    expect(sha(join(dir, file))).toBe(before);
  });

  it('a probed luks backing file of a qcow2 overlay is opened by its driver, which asks for its key as qemu-img does', async () => {
    await created(['-f', 'qcow2', '-b', 'a.luks', '-F', 'luks', 'over.qcow2', '1M'], dir);
    // Drop the backing-format extension (rename its type), so the backing file is probed.
    const path = join(dir, 'over.qcow2');
    const image = readFileSync(path);
    const at = image.indexOf(Buffer.from('e2792aca', 'hex'));
    expect(at).toBeGreaterThan(0);
    Buffer.from('0badf00d', 'hex').copy(image, at);
    writeFileSync(path, image);
    // info does not open backing files (as qemu-img); convert reads through the chain.
    const result = await tool('modular', ['convert', '-O', 'raw', 'over.qcow2', 'over.raw'], dir);
    expect(result).toEqual({ ...(await qemuImg(['convert', '-O', 'raw', 'over.qcow2', 'over.raw'], dir)), stderr: expect.stringMatching(/^tessera-img: /) });
    expect(result.stderr).toBe("tessera-img: Could not open 'over.qcow2': Could not open backing file: Parameter 'key-secret' is required for cipher\n");
  });
});

it('the emulator opens a luks drive with its driver, which refuses it without a key before the machine starts, the image unchanged', async () => {
  const before = sha(join(dir, 'a.luks'));
  const result = await run(executable('emulator', 'modular'), ['-display', 'none', '-drive', 'file=a.luks,if=ide'], { cwd: dir });
  expect(result.stderr).toBe(
    "tessera: -drive file=a.luks,if=ide: Parameter 'key-secret' is required for cipher\n",
  );
  expect(result.code).toBe(1);
  expect(sha(join(dir, 'a.luks'))).toBe(before);
});
