// A raw image opened without a format is probed: qemu's warning when it is opened for writing, and
// its first sector refuses data that would make it look like another format (the sector-0
// attack: a qcow2 header naming a host file as backing file). Side by side with qemu-img, which
// does the same; naming the format raw removes the restriction in both.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { asTessera, configurations, MiB, qemuImg, qemuIoFormat, tempDir, tool, twinDirs, type Configuration } from './helpers.ts';

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const firstSectorSha = (path: string) => createHash('sha256').update(readFileSync(path).subarray(0, 512)).digest('hex');

const warning = (file: string) =>
  `WARNING: Image format was not specified for '${file}' and probing guessed raw.\n` +
  '         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n' +
  "         Specify the 'raw' format explicitly to remove the restrictions.\n";

async function ok(args: string[], dir: string): Promise<void> {
  const result = await qemuImg(args, dir);
  if (result.code !== 0) throw new Error(`qemu-img ${args.join(' ')}: ${result.stderr}`);
}

/** qemu-img's probed format of a file. */
async function probedFormat(path: string): Promise<string> {
  return (JSON.parse((await qemuImg(['info', '--output=json', path])).stdout) as { format: string }).format;
}

/** Rename the backing-format header extension of a qcow2 image, so its backing file gets probed. */
function dropBackingFormat(path: string): void {
  const image = readFileSync(path);
  const at = image.indexOf(Buffer.from('e2792aca', 'hex'));
  if (at < 0) throw new Error(`${path} has no backing format extension`);
  Buffer.from('0badf00d', 'hex').copy(image, at);
  writeFileSync(path, image);
}

let fixture: string;

beforeAll(async () => {
  fixture = await tempDir();
  writeFileSync(join(fixture, 'secret.txt'), 'host secret\n');
  // The attacker's data: a qcow2 image (read as raw) whose header names a host file as backing.
  await ok(['create', '-q', '-f', 'qcow2', '-b', join(fixture, 'secret.txt'), '-F', 'raw', 'evil.qcow2', '1M'], fixture);
  await ok(['create', '-q', '-f', 'raw', 'disk.raw', '1M'], fixture);
  // An overlay whose guest data starts with that header, over a raw base, with and without a backing format.
  writeFileSync(join(fixture, 'header.bin'), readFileSync(join(fixture, 'evil.qcow2')).subarray(0, 512));
  for (const name of ['base.raw', 'named-base.raw']) await ok(['create', '-q', '-f', 'raw', name, '1M'], fixture);
  await ok(['create', '-q', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'over.qcow2'], fixture);
  await ok(['create', '-q', '-f', 'qcow2', '-b', 'named-base.raw', '-F', 'raw', 'named-over.qcow2'], fixture);
  for (const name of ['over.qcow2', 'named-over.qcow2']) qemuIoFormat(join(fixture, name), 'qcow2', `write -s ${join(fixture, 'header.bin')} 0 512`);
  dropBackingFormat(join(fixture, 'over.qcow2'));
}, 60_000);

describe.each(configurations)('the sector-0 attack through tessera-img (%s)', (configuration: Configuration) => {
  it('convert -n into a probed raw target: refused at byte 0 as by qemu-img, the target unchanged', async () => {
    const dirs = await twinDirs(fixture);
    const firstSector = firstSectorSha(join(dirs.ours, 'disk.raw'));
    const args = ['convert', '-n', '-f', 'raw', 'evil.qcow2', '--target-image-opts', 'file.filename=disk.raw'];
    const qemu = asTessera(await qemuImg(args, dirs.qemu));
    const ours = await tool(configuration, args, dirs.ours);
    expect(qemu.code).toBe(1);
    expect(qemu.stderr).toBe(`${warning('disk.raw')}tessera-img: error while writing at byte 0: Operation not permitted\n`);
    expect(ours.stderr).toMatch(/^tessera-img: error while writing at byte 0: Operation not permitted: the write would make the first sector of 'disk.raw' look like a qcow2 image/m);
    expect(ours.stderr.startsWith(warning('disk.raw'))).toBe(true);
    expect(ours.code).toBe(1);
    // The first sector is untouched. (Unlike qemu-img, which writes one chunk's runs one after
    // another, the other runs of that chunk may land: they are data, and make no header.)
    expect(firstSectorSha(join(dirs.ours, 'disk.raw'))).toBe(firstSector);
    expect(await probedFormat(join(dirs.ours, 'disk.raw'))).toBe('raw');
  });

  it('convert -n with the raw format named writes the header, as qemu-img does (no restriction)', async () => {
    const dirs = await twinDirs(fixture);
    const args = ['convert', '-n', '-f', 'raw', 'evil.qcow2', '--target-image-opts', 'driver=raw,file.filename=disk.raw'];
    const { qemu, ours } = { qemu: await qemuImg(args, dirs.qemu), ours: await tool(configuration, args, dirs.ours) };
    expect([qemu.code, ours.code]).toEqual([0, 0]);
    expect(ours.stderr).toBe('');
    expect(readFileSync(join(dirs.ours, 'disk.raw')).equals(readFileSync(join(dirs.qemu, 'disk.raw')))).toBe(true);
  });

  it('commit into a backing file that has no backing format (so it was probed): refused, the base unchanged', async () => {
    const dirs = await twinDirs(fixture);
    const before = sha(join(dirs.ours, 'base.raw'));
    const qemu = await qemuImg(['commit', 'over.qcow2'], dirs.qemu);
    const ours = await tool(configuration, ['commit', 'over.qcow2'], dirs.ours);
    expect(qemu.stderr).toContain('qemu-img: Block job failed: Operation not permitted');
    expect(qemu.code).toBe(1);
    expect(ours.stderr).toMatch(/^tessera-img: Block job failed: Operation not permitted: the write would make the first sector of '.*base\.raw' look like a qcow2 image/m);
    expect(ours.code).toBe(1);
    expect(sha(join(dirs.ours, 'base.raw'))).toBe(before);
    expect(sha(join(dirs.qemu, 'base.raw'))).toBe(before);
    // The next open still sees a raw disk with no backing file.
    const info = await tool(configuration, ['info', '--output=json', 'base.raw'], dirs.ours);
    expect(JSON.parse(info.stdout)).toMatchObject({ format: 'raw' });
  });

  it('commit into a backing file whose format the overlay names: written, as by qemu-img', async () => {
    const dirs = await twinDirs(fixture);
    const ours = await tool(configuration, ['commit', 'named-over.qcow2'], dirs.ours);
    expect(ours.code).toBe(0);
    expect(await probedFormat(join(dirs.ours, 'named-base.raw'))).toBe('qcow2');
  });

  it('a probed raw image opened for writing gets qemu-img\'s warning, word for word', async () => {
    const dirs = await twinDirs(fixture);
    const args = ['resize', 'disk.raw', `${2 * MiB}`];
    const qemu = asTessera(await qemuImg(args, dirs.qemu));
    const ours = await tool(configuration, args, dirs.ours);
    expect(ours).toEqual(qemu);
    expect(ours.stderr).toBe(warning('disk.raw'));
    // Read-only opens say nothing.
    expect((await tool(configuration, ['info', 'disk.raw'], dirs.ours)).stderr).toBe('');
  });
});
