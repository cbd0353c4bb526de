// `convert` between raw images: content qemu-img compare agrees on, sparse output allocated
// exactly as qemu-img allocates its own, progress display, and qemu-img's errors.
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  MiB,
  allocatedBytes,
  dataBytes,
  EXTENT_TREE_SLACK,
  both,
  configurations,
  qemuImg,
  random,
  tempDir,
  tool,
  twinDirs,
  writeImage,
  type Configuration,
} from './helpers.ts';

const SOURCE_SIZE = 8 * MiB;

describe.each(configurations)('convert (%s)', (configuration: Configuration) => {
  let fixture: string;

  beforeAll(async () => {
    fixture = await tempDir();
    await writeImage(join(fixture, 'data.raw'), SOURCE_SIZE, [
      [20_000, random(10)], // inside one 4 KiB block
      [50 * 65536, random(3 * 65536)],
      [5 * MiB + 1000, random(300_000)], // unaligned both ends
      [SOURCE_SIZE - 8, random(1)],
    ]);
    // in.raw: the same bytes fully written (zeroes, not holes), so zero detection is what keeps outputs sparse.
    await writeFile(join(fixture, 'in.raw'), await readFile(join(fixture, 'data.raw')));
    await writeImage(join(fixture, 'odd.raw'), 1000, [[0, random(1000)]]);
    await writeImage(join(fixture, 'small.raw'), 4096);
    await writeImage(join(fixture, 'empty.raw'), 0);
    await mkdir(join(fixture, 'subdir'));
  });

  /** Twin dirs with a target of random bytes, larger than in.raw, for -n. */
  async function withNoiseTarget(): Promise<{ qemu: string; ours: string }> {
    const dirs = await twinDirs(fixture);
    const noise = random(2 * SOURCE_SIZE);
    await Promise.all([dirs.qemu, dirs.ours].map((dir) => writeFile(join(dir, 'noise.raw'), noise)));
    return dirs;
  }

  /** qemu-img compare of two files: exit code and message. */
  async function qemuCompare(a: string, b: string): Promise<{ code: number | null; stdout: string }> {
    const { code, stdout } = await qemuImg(['compare', '-f', 'raw', '-F', 'raw', a, b]);
    return { code, stdout };
  }

  /** Convert in twin dirs; same messages; the outputs are identical and allocated alike. */
  async function convertLikeQemu(args: string[], output = 'out.raw'): Promise<{ qemu: string; ours: string }> {
    const dirs = await twinDirs(fixture);
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(ours).toEqual(qemu);
    expect(qemu.code).toBe(0);
    const [theirs, mine] = [join(dirs.qemu, output), join(dirs.ours, output)];
    expect(await qemuCompare(theirs, mine)).toEqual({ code: 0, stdout: 'Images are identical.\n' });
    expect((await stat(mine)).size).toBe((await stat(theirs)).size);
    expect(await dataBytes(mine)).toBe(await dataBytes(theirs));
    expect(Math.abs((await allocatedBytes(mine)) - (await allocatedBytes(theirs)))).toBeLessThanOrEqual(EXTENT_TREE_SLACK);
    return { qemu: theirs, ours: mine };
  }

  it.each([[[]], [['-S', '4k']], [['-S', '512']], [['-S', '64k']], [['-S', '1.5k']], [['-S', '0']], [['-m', '1']], [['-W', '-m', '16']]])(
    'convert %j: content and allocation as qemu-img',
    async (options) => {
      const { ours } = await convertLikeQemu(['convert', ...options, 'in.raw', 'out.raw']);
      expect(await qemuCompare(join(fixture, 'in.raw'), ours)).toEqual({ code: 0, stdout: 'Images are identical.\n' });
    },
  );

  it('zero regions are left unwritten (sparse output)', async () => {
    const dir = await twinDirs(fixture);
    const result = await tool(configuration, ['convert', 'in.raw', 'out.raw'], dir.ours);
    expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
    const source = await readFile(join(fixture, 'in.raw'));
    let dataBlocks = 0;
    for (let at = 0; at < source.length; at += 4096) {
      if (source.subarray(at, at + 4096).some((byte) => byte !== 0)) dataBlocks++;
    }
    // Written: the 4 KiB blocks holding data, plus the first block every new raw image gets.
    expect(await dataBytes(join(dir.ours, 'out.raw'))).toBeLessThanOrEqual((dataBlocks + 1) * 4096);
    expect(await allocatedBytes(join(dir.ours, 'out.raw'))).toBeLessThan(source.length / 4);
    const full = await tool(configuration, ['convert', '-S', '0', 'in.raw', 'full.raw'], dir.ours);
    expect(full.code).toBe(0);
    expect(await allocatedBytes(join(dir.ours, 'full.raw'))).toBeGreaterThanOrEqual(source.length);
  });

  it.each([
    [['convert', '-O', 'raw', '-f', 'raw', 'in.raw', 'out.raw']],
    [['convert', '-q', 'in.raw', 'out.raw']],
    [['convert', '-t', 'none', '-T', 'writeback', 'in.raw', 'out.raw']],
    [['convert', '--salvage', 'in.raw', 'out.raw']],
    [['convert', '-r', '64M', 'in.raw', 'out.raw']],
    [['convert', '-O', 'raw', '-o', 'size=2M', 'in.raw', 'out.raw']],
    [['convert', '-o', 'preallocation=full', 'in.raw', 'out.raw']],
    [['convert', '--image-opts', 'driver=raw,file.filename=in.raw', 'out.raw']],
    [['convert', 'odd.raw', 'out.raw']],
    [['convert', 'empty.raw', 'out.raw']],
    [['convert', 'in.raw', 'odd.raw', 'in.raw', 'out.raw']],
  ])('%j: same output file as qemu-img', (args) => convertLikeQemu(args).then(() => undefined));

  it('-C (copy offloading): same content; zero detection still keeps the output sparse', async () => {
    // qemu-img -C copies the source's data extents as they are (only holes stay holes); this
    // tool cannot see holes, so it keeps detecting zeroes: never more allocated than qemu-img's.
    const dirs = await twinDirs(fixture);
    const { qemu, ours } = await both(configuration, ['convert', '-C', '-U', 'in.raw', 'out.raw'], dirs);
    expect(ours).toEqual(qemu);
    const [theirs, mine] = [join(dirs.qemu, 'out.raw'), join(dirs.ours, 'out.raw')];
    expect(await qemuCompare(theirs, mine)).toEqual({ code: 0, stdout: 'Images are identical.\n' });
    expect(await allocatedBytes(mine)).toBeLessThanOrEqual(await allocatedBytes(theirs));
  });

  it('-n writes into an existing, larger image: zeroes written, the tail kept', async () => {
    const dirs = await withNoiseTarget();
    const { qemu, ours } = await both(configuration, ['convert', '-n', 'in.raw', 'noise.raw'], dirs);
    expect(ours).toEqual(qemu);
    expect(ours.code).toBe(0);
    const result = await readFile(join(dirs.ours, 'noise.raw'));
    expect(Buffer.compare(result, await readFile(join(dirs.qemu, 'noise.raw')))).toBe(0);
    expect(Buffer.compare(result.subarray(0, SOURCE_SIZE), await readFile(join(fixture, 'in.raw')))).toBe(0);
  });

  it('-n --target-image-opts names the target by options', async () => {
    const dirs = await withNoiseTarget();
    const args = ['convert', '-n', '--target-image-opts', 'in.raw', 'driver=raw,file.filename=noise.raw'];
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(ours).toEqual(qemu);
    expect(await qemuCompare(join(dirs.ours, 'noise.raw'), join(dirs.qemu, 'noise.raw'))).toMatchObject({ code: 0 });
  });

  it('-p draws qemu-img progress on stdout', async () => {
    const dir = await twinDirs(fixture);
    const result = await tool(configuration, ['convert', '-p', 'in.raw', 'out.raw'], dir.ours);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^( {4}\(\d{1,3}\.\d\d\/100%\)\r)+\n$/);
    expect(result.stdout.startsWith('    (0.00/100%)\r')).toBe(true);
    expect(result.stdout.endsWith('    (100.00/100%)\r\n')).toBe(true);
    const percentages = [...result.stdout.matchAll(/\((\d+\.\d\d)\//g)].map((m) => Number(m[1]));
    expect(percentages).toEqual([...percentages].sort((a, b) => a - b));
    const qemu = await qemuImg(['convert', '-p', 'in.raw', 'out.raw'], dir.qemu);
    expect(qemu.stdout.endsWith('    (100.00/100%)\r\n')).toBe(true);
    // -q silences it, as with qemu-img
    expect(await tool(configuration, ['convert', '-p', '-q', 'in.raw', 'quiet.raw'], dir.ours)).toEqual({
      code: 0,
      stdout: '',
      stderr: '',
    });
  });

  it('a converted image compares identical with qemu-img and with tessera-img', async () => {
    const dir = await tempDir();
    await copyFile(join(fixture, 'data.raw'), join(dir, 'src.raw'));
    expect((await tool(configuration, ['convert', 'src.raw', 'copy.raw'], dir)).code).toBe(0);
    expect(await qemuCompare(join(dir, 'src.raw'), join(dir, 'copy.raw'))).toEqual({ code: 0, stdout: 'Images are identical.\n' });
    expect(await tool(configuration, ['compare', 'src.raw', 'copy.raw'], dir)).toEqual({
      code: 0,
      stdout: 'Images are identical.\n',
      stderr: '',
    });
  });

  it.each([
    [['convert']],
    [['convert', 'in.raw']],
    [['convert', 'missing.raw', 'out.raw']],
    [['convert', '-O', 'foo', 'in.raw', 'out.raw']],
    [['convert', '-f', 'foo', 'in.raw', 'out.raw']],
    [['convert', '-n', 'in.raw', 'missing.raw']],
    [['convert', '-n', 'in.raw', 'small.raw']],
    [['convert', 'in.raw', 'no/such/dir/out.raw']],
    [['convert', 'in.raw', 'subdir']],
    [['convert', '-S', 'abc', 'in.raw', 'out.raw']],
    [['convert', '-S', '100', 'in.raw', 'out.raw']],
    [['convert', '-S', '32M', 'in.raw', 'out.raw']],
    [['convert', '-S', '99999999999999999999', 'in.raw', 'out.raw']],
    [['convert', '-m', '0', 'in.raw', 'out.raw']],
    [['convert', '-m', '17', 'in.raw', 'out.raw']],
    [['convert', '-m', '08', 'in.raw', 'out.raw']],
    [['convert', '-r', 'x', 'in.raw', 'out.raw']],
    [['convert', '-t', 'foo', 'in.raw', 'out.raw']],
    [['convert', '-T', 'foo', 'in.raw', 'out.raw']],
    [['convert', '-c', 'in.raw', 'out.raw']],
    [['convert', '-B', 'base.raw', 'in.raw', 'out.raw']],
    [['convert', '-F', 'raw', 'in.raw', 'out.raw']],
    [['convert', '-l', 'snap', 'in.raw', 'out.raw']],
    [['convert', '--bitmaps', 'in.raw', 'out.raw']],
    [['convert', '--target-is-zero', 'in.raw', 'out.raw']],
    [['convert', '--target-image-opts', 'in.raw', 'out.raw']],
    [['convert', '-n', '-o', 'size=1M', 'in.raw', 'small.raw']],
    [['convert', '-C', '--salvage', 'in.raw', 'out.raw']],
    [['convert', '-o', 'foo=bar', 'in.raw', 'out.raw']],
    [['convert', '-o', 'size=1M,', 'in.raw', 'out.raw']],
    [['convert', '--image-opts', '-f', 'raw', 'file.filename=in.raw', 'out.raw']],
    [['convert', '-o', 'help', 'in.raw', 'out.raw']],
    [['convert', 'in.raw', 'http://127.0.0.1:9/out.raw']],
  ])('%j: same messages and exit code as qemu-img', async (args) => {
    const dirs = await twinDirs(fixture);
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(ours).toEqual(qemu);
  });
});
