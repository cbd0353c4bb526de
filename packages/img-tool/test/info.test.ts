// `info` on local raw images: human and JSON output identical to qemu-img's, errors too.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MiB, both, configurations, qemuImg, qemuInfo, random, tempDir, tool, writeImage } from './helpers.ts';

const GiB = 1024 * MiB;

/** Files of sizes that exercise qemu-img's size display (units, 3 digits, rounding, sectors). */
const SIZED: ReadonlyArray<[string, number]> = [
  ['empty.raw', 0],
  ['tiny.raw', 100], // not a whole sector: qemu shows 512 bytes
  ['sector.raw', 512],
  ['half-kib.raw', 102912], // 100.5 KiB: glibc rounds the tie to even
  ['almost-mib.raw', 1024000], // 1000 KiB shows as 0.977 MiB
  ['mib.raw', MiB],
  ['mib-and-half.raw', 1.5 * MiB],
  ['gib-minus.raw', GiB - 512],
  ['big.raw', 5 * 1024 * GiB],
];

describe.each(configurations)('info (%s)', (configuration) => {
  let dir: string;

  beforeAll(async () => {
    dir = await tempDir();
    // An image made by qemu-img itself (its first block allocated), with data here and there.
    expect((await qemuImg(['create', '-q', 'a.raw', '4M'], dir)).code).toBe(0);
    await writeImage(join(dir, 'data.raw'), 4 * MiB, [
      [0, random(4096)],
      [MiB + 123, random(70_000)],
    ]);
    for (const [name, size] of SIZED) await writeImage(join(dir, name), size);
    await mkdir(join(dir, 'subdir'));
  });

  it.each(SIZED.map(([name]) => name).concat('a.raw', 'data.raw'))(
    '%s: human and JSON output equal qemu-img info',
    async (name) => {
      for (const args of [['info', name], ['info', '--output=json', name]]) {
        const { qemu, ours } = await both(configuration, args, dir);
        expect(ours).toEqual(qemu);
      }
    },
  );

  it('JSON has qemu-img keys and values for a raw file', async () => {
    const result = await tool(configuration, ['info', '--output=json', 'data.raw'], dir);
    const reference = await qemuInfo(join(dir, 'data.raw'));
    expect(result.code).toBe(0);
    const ours = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(Object.keys(ours)).toEqual(['virtual-size', 'filename', 'format', 'actual-size', 'dirty-flag']);
    expect(ours).toEqual({ ...reference, filename: 'data.raw' });
  });

  it.each([
    [['info', '--output', 'json', 'a.raw']],
    [['info', '-f', 'raw', '--output=human', 'a.raw']],
    [['info', 'a.raw', '--output=json', '-f', 'raw']],
    [['info', '-fraw', 'a.raw']],
    [['info', '-Ufraw', 'a.raw']],
    [['info', '--format=raw', 'a.raw']],
    [['info', '--outp=json', 'a.raw']],
    [['info', '--force', 'a.raw']],
    [['info', '--backing', 'a.raw']],
    [['info', '--backing-chain', '--output=json', 'a.raw']],
    [['info', '--', 'a.raw']],
    [['info', '-f', 'file', 'a.raw']],
    [['info', '--output=json', '-f', 'file', 'a.raw']],
    [['info', '--image-opts', 'driver=raw,file.filename=a.raw']],
    [['info', '--image-opts', 'file.filename=a.raw']],
    [['info', '--image-opts', 'file.filename=a.raw,']],
    [['info', '--image-opts', 'driver=raw,file.driver=file,file.filename=a.raw']],
    [['info', '--image-opts', 'driver=file,filename=a.raw']],
    [['info', '--output=json', '--image-opts', 'file.filename=a.raw,driver=raw,driver=raw']],
  ])('%j: same output as qemu-img', async (args) => {
    const { qemu, ours } = await both(configuration, args, dir);
    expect(ours).toEqual(qemu);
  });

  it.each([
    [['info']],
    [['info', 'a.raw', 'data.raw']],
    [['info', 'missing.raw']],
    [['info', '-f', 'foo', 'a.raw']],
    [['info', '--output=xml', 'a.raw']],
    [['info', '--output=', 'a.raw']],
    [['info', '--output', 'a.raw']],
    [['info', '--image-opts', 'a.raw']],
    [['info', '--image-opts', 'driver=raw']],
    [['info', '--image-opts', '']],
    [['info', '--image-opts', '=x']],
    [['info', '--image-opts', 'driver=foo,file.filename=a.raw']],
    [['info', '--image-opts', 'file.filename=a.raw,foo=bar']],
    [['info', '--image-opts', 'file.filename=a.raw,file.foo=bar']],
    [['info', '--image-opts', 'file.filename=a,,b.raw']],
    [['info', '--image-opts', 'file.filename=a.raw,,']],
    [['info', '--image-opts', 'file.driver=file,file.filename=missing.raw']],
    [['info', '--image-opts', '-f', 'raw', 'file.filename=a.raw']],
  ])('%j: same error and exit code as qemu-img', async (args) => {
    const { qemu, ours } = await both(configuration, args, dir);
    expect(qemu.code).not.toBe(0);
    expect(ours).toEqual(qemu);
  });

  it('a directory is refused (exit 1, "Could not open")', async () => {
    const qemu = await qemuImg(['info', 'subdir'], dir);
    const ours = await tool(configuration, ['info', 'subdir'], dir);
    expect(ours.code).toBe(qemu.code);
    expect(ours.stderr).toMatch(/^tessera-img: Could not open 'subdir': /);
    expect(ours.stdout).toBe('');
  });
});
