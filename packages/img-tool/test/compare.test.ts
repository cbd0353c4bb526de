// `compare`: qemu-img's verdicts, messages and exit codes (0 identical, 1 different, 2 open error).
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MiB, both, configurations, qemuImg, random, tempDir, tool, writeImage, type Configuration } from './helpers.ts';

describe.each(configurations)('compare (%s)', (configuration: Configuration) => {
  let dir: string;

  beforeAll(async () => {
    dir = await tempDir();
    const data = random(3 * 4096);
    const at = (...writes: Array<[number, Uint8Array]>): Array<[number, Uint8Array]> => [[10 * 4096, data], ...writes];
    await writeImage(join(dir, 'a.raw'), MiB, at());
    await copyFile(join(dir, 'a.raw'), join(dir, 'same.raw'));
    await writeImage(join(dir, 'b.raw'), MiB, at([50_000, Uint8Array.of(0x58)]));
    await writeImage(join(dir, 'c.raw'), MiB, at([MiB - 1, Uint8Array.of(1)]));
    await writeImage(join(dir, 'big.raw'), 2 * MiB, at()); // a.raw with a zero tail
    await writeImage(join(dir, 'bigd.raw'), 2 * MiB, at([1_500_000, Uint8Array.of(1)])); // non-zero tail
    await writeImage(join(dir, 'bige.raw'), 2 * MiB, at([MiB, Uint8Array.of(1)])); // first tail byte
    await writeImage(join(dir, 'small.raw'), 64 * 1024, at().filter(([offset]) => offset < 64 * 1024));
    await writeImage(join(dir, 'odd.raw'), 1000, [[0, Uint8Array.of(7)]]);
    await writeImage(join(dir, 'odd2.raw'), 1024, [[0, Uint8Array.of(7)]]);
    await writeImage(join(dir, 'empty.raw'), 0);
    // Several chunks, with a difference far in.
    const large = random(5 * MiB);
    await writeImage(join(dir, 'l1.raw'), 8 * MiB, [[MiB, large]]);
    large[4 * MiB + 777] = large[4 * MiB + 777]! ^ 0xff;
    await writeImage(join(dir, 'l2.raw'), 8 * MiB, [[MiB, large]]);
  });

  it.each([
    ['a.raw', 'a.raw'],
    ['a.raw', 'same.raw'],
    ['a.raw', 'b.raw'],
    ['b.raw', 'a.raw'],
    ['a.raw', 'c.raw'],
    ['a.raw', 'big.raw'],
    ['big.raw', 'a.raw'],
    ['a.raw', 'bigd.raw'],
    ['bigd.raw', 'a.raw'],
    ['a.raw', 'bige.raw'],
    ['a.raw', 'small.raw'],
    ['small.raw', 'a.raw'],
    ['odd.raw', 'odd2.raw'],
    ['empty.raw', 'empty.raw'],
    ['empty.raw', 'a.raw'],
    ['l1.raw', 'l2.raw'],
  ])('%s vs %s: verdict, message and exit code as qemu-img', async (first, second) => {
    for (const options of [[], ['-q'], ['-f', 'raw', '-F', 'raw']]) {
      const { qemu, ours } = await both(configuration, ['compare', ...options, first, second], dir);
      expect(ours).toEqual(qemu);
    }
  });

  it.each([
    ['a.raw', 'a.raw'],
    ['a.raw', 'big.raw'],
    ['big.raw', 'a.raw'],
    ['odd.raw', 'empty.raw'],
    ['odd.raw', 'odd2.raw'],
    ['a.raw', 'b.raw'],
  ])('strict mode (-s) %s vs %s: size checks as qemu-img', async (first, second) => {
    const qemu = await qemuImg(['compare', '-s', first, second], dir);
    const ours = await tool(configuration, ['compare', '-s', first, second], dir);
    expect(ours.code).toBe(qemu.code);
    // Allocation too ("block status mismatch"): the file driver reports a raw file's holes as qemu's does.
    expect(ours.stdout).toBe(qemu.stdout);
  });

  it.each([
    [['compare']],
    [['compare', 'a.raw']],
    [['compare', 'a.raw', 'a.raw', 'a.raw']],
    [['compare', 'a.raw', 'missing.raw']],
    [['compare', 'missing.raw', 'a.raw']],
    [['compare', '-q', 'a.raw', 'missing.raw']],
    [['compare', '-f', 'foo', 'a.raw', 'a.raw']],
    [['compare', '-F', 'foo', 'a.raw', 'a.raw']],
    [['compare', '-T', 'foo', 'a.raw', 'a.raw']],
    [['compare', '-T', 'none', 'a.raw', 'a.raw']],
    [['compare', '--image-opts', '-F', 'raw', 'file.filename=a.raw', 'file.filename=a.raw']],
    [['compare', '-U', '--image-opts', 'file.filename=a.raw', 'driver=raw,file.filename=b.raw']],
    [['compare', '-sq', 'a.raw', 'a.raw']],
    [['compare', '-z', 'a.raw', 'a.raw']],
  ])('%j: same result as qemu-img', async (args) => {
    const { qemu, ours } = await both(configuration, args, dir);
    expect(ours).toEqual(qemu);
  });

  it.each([
    ['a.raw', 'a.raw', 'Images are identical.\n', 0],
    ['a.raw', 'b.raw', `Content mismatch at offset ${Math.floor(50_000 / 512) * 512}!\n`, 1],
    ['a.raw', 'big.raw', 'Warning: Image size mismatch!\nImages are identical.\n', 0],
  ])('-p %s %s: progress, then the verdict, then a newline', async (first, second, verdict, code) => {
    const qemu = await qemuImg(['compare', '-p', first, second], dir);
    const ours = await tool(configuration, ['compare', '-p', first, second], dir);
    for (const result of [qemu, ours]) {
      expect(result.code).toBe(code);
      const text = result.stdout.replace(/ {4}\(\d{1,3}\.\d\d\/100%\)\r/g, '');
      expect(text).toBe(`${verdict}\n`);
      expect(result.stdout.startsWith('    (0.00/100%)\r')).toBe(true);
    }
  });
});
