// Storage that is not a plain regular file (issue 14 points 5, 6 and 8): block devices (loop
// devices, where this machine lets us attach them), FIFOs and missing files as images and as
// backing files, a full file system, thin targets, and a 1 TiB empty image. qemu-img is the oracle.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, allocatedBytes, asTessera, configurations, qemuImg, random, tempDir, tool, writeImage } from './helpers.ts';

const DEVICE_SIZE = 8 * MiB;

/** Attach `file` as a loop device; undefined (with the reason) where this machine does not allow it. */
function attachLoop(file: string): { device?: string; reason?: string } {
  try {
    return { device: execFileSync('losetup', ['-f', '--show', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim() };
  } catch (error) {
    return { reason: `losetup is not permitted here: ${(error as Error).message.split('\n')[0]}` };
  }
}

/** Mount a 1 MiB tmpfs at `dir`; the reason when mounting is not permitted. */
function mountSmallTmpfs(dir: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1M', 'tmpfs', dir], { stdio: 'ignore' });
    return undefined;
  } catch (error) {
    return `mounting a tmpfs is not permitted here: ${(error as Error).message.split('\n')[0]}`;
  }
}

let dir: string;
let loop: { device?: string; reason?: string } = {};
let deviceFile: string;
const source = random(64 * 1024);

beforeAll(async () => {
  dir = await tempDir();
  deviceFile = join(dir, 'device.img');
  writeFileSync(deviceFile, Buffer.alloc(DEVICE_SIZE, 0xff)); // a device is not known to read as zeroes
  loop = attachLoop(deviceFile);
  // 4 MiB: 64 KiB of data, then zeroes (a hole).
  await writeImage(join(dir, 'small.raw'), 4 * MiB, [[0, source]]);
  await writeImage(join(dir, 'large.raw'), 16 * MiB, [[0, source]]);
});

afterAll(() => {
  if (loop.device) execFileSync('losetup', ['-d', loop.device]);
});

/** The device's bytes (through the file behind it: the loop device writes through to it). */
function deviceBytes(): Buffer {
  execFileSync('sync');
  return readFileSync(loop.device!);
}

describe.each(configurations)('%s: block devices', (configuration) => {
  it('are sized from the device, for info, map and compare as qemu-img sizes them', async (context) => {
    if (!loop.device) return context.skip(loop.reason);
    for (const args of [['info', loop.device], ['map', loop.device], ['compare', join(dir, 'small.raw'), loop.device]]) {
      const [ours, qemu] = await Promise.all([tool(configuration, args, dir), qemuImg(args, dir)]);
      expect(ours, args.join(' ')).toEqual(asTessera(qemu));
    }
    const info = await tool(configuration, ['info', '--output=json', loop.device]);
    expect(JSON.parse(info.stdout)['virtual-size']).toBe(DEVICE_SIZE);
  });

  it('are written whole by convert (zeroes too), never truncated, and refused when too small', async (context) => {
    if (!loop.device) return context.skip(loop.reason);
    writeFileSync(loop.device, Buffer.alloc(DEVICE_SIZE, 0xff));
    const ours = await tool(configuration, ['convert', '-O', 'raw', join(dir, 'small.raw'), loop.device]);
    expect(ours).toEqual({ code: 0, stdout: '', stderr: '' });
    const bytes = deviceBytes();
    expect(bytes.length).toBe(DEVICE_SIZE);
    expect(bytes.subarray(0, source.length).equals(source)).toBe(true);
    // The source's hole was written as zeroes over the device's 0xff; past the image, untouched.
    expect(bytes.subarray(source.length, 4 * MiB).every((byte) => byte === 0)).toBe(true);
    expect(bytes.subarray(4 * MiB).every((byte) => byte === 0xff)).toBe(true);

    // Too large an image: qemu-img's refusal, and the device keeps what it had.
    const args = ['convert', '-O', 'raw', join(dir, 'large.raw'), loop.device];
    const [refused, qemu] = [await tool(configuration, args), await qemuImg(args)];
    expect(refused).toEqual(asTessera(qemu));
    expect(refused.stderr).toBe(`tessera-img: ${loop.device}: error while converting raw: Cannot grow device files\n`);
    expect(deviceBytes().equals(bytes)).toBe(true);
  });

  it('keep their size: resize to it is accepted, to another refused, as qemu-img does', async (context) => {
    if (!loop.device) return context.skip(loop.reason);
    for (const args of [['resize', '-f', 'raw', loop.device, '+1M'], ['resize', '-f', 'raw', loop.device, `${DEVICE_SIZE}`], ['resize', '-f', 'raw', '--shrink', loop.device, '4M']]) {
      expect(await tool(configuration, args), args.join(' ')).toEqual(asTessera(await qemuImg(args)));
    }
    expect(deviceBytes().length).toBe(DEVICE_SIZE);
  });

  it('are read whole by convert and dd', async (context) => {
    if (!loop.device) return context.skip(loop.reason);
    const content = Buffer.from(random(DEVICE_SIZE));
    writeFileSync(loop.device, content);
    const copied = join(dir, `from-device-${configuration}.raw`);
    expect((await tool(configuration, ['convert', '-O', 'qcow2', loop.device, copied])).code).toBe(0);
    expect(await qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', loop.device, copied])).toMatchObject({ code: 0 });
    const dd = join(dir, `dd-${configuration}.raw`);
    expect((await tool(configuration, ['dd', `if=${loop.device}`, `of=${dd}`, 'bs=1M'])).code).toBe(0);
    expect(readFileSync(dd).equals(content)).toBe(true);
  });
});

describe.each(configurations)('%s: FIFOs, directories and missing files', (configuration) => {
  let fifoDir: string;
  beforeAll(async () => {
    fifoDir = await tempDir();
    execFileSync('mkfifo', [join(fifoDir, 'fifo')]);
    mkdirSync(join(fifoDir, 'directory'));
    await qemuImg(['create', '-f', 'qcow2', '-u', '-b', 'fifo', '-F', 'raw', join(fifoDir, 'over-fifo.qcow2'), '1M']);
    await qemuImg(['create', '-f', 'qcow2', '-u', '-b', 'missing.raw', '-F', 'raw', join(fifoDir, 'over-missing.qcow2'), '1M']);
    await qemuImg(['create', '-f', 'qcow2', '-u', '-b', 'directory', '-F', 'raw', join(fifoDir, 'over-directory.qcow2'), '1M']);
  });

  it('a FIFO is refused at once, as an image and as a backing file, never waited on', async () => {
    for (const args of [['info', 'fifo'], ['info', '--backing-chain', 'over-fifo.qcow2'], ['convert', '-O', 'raw', 'over-fifo.qcow2', 'out.raw']]) {
      const result = await tool(configuration, args, fifoDir);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr, args.join(' ')).toContain("'file' driver requires 'fifo' to be a regular file");
    }
  });

  it('info describes an image whose backing file is missing, a FIFO or a directory, as qemu-img does', async () => {
    for (const image of ['over-fifo.qcow2', 'over-missing.qcow2', 'over-directory.qcow2']) {
      const ours = await tool(configuration, ['info', image], fifoDir);
      // qemu-img opens without the backing file: the FIFO is not touched, so it does not hang.
      expect(ours).toEqual(asTessera(await qemuImg(['info', image], fifoDir)));
      expect(ours.code).toBe(0);
    }
    // With --backing-chain the backing file is opened: qemu-img's failure, word for word.
    for (const image of ['over-missing.qcow2', 'over-directory.qcow2']) {
      const args = ['info', '--backing-chain', image];
      expect(await tool(configuration, args, fifoDir)).toEqual(asTessera(await qemuImg(args, fifoDir)));
    }
  });

  it('say why an image cannot be opened once, as qemu-img does', async () => {
    const corrupt = join(fifoDir, 'version9.qcow2');
    await qemuImg(['create', '-f', 'qcow2', corrupt, '1M']);
    const bytes = readFileSync(corrupt);
    bytes.writeUInt32BE(9, 4);
    writeFileSync(corrupt, bytes);
    for (const args of [['info', 'directory'], ['info', 'missing.raw'], ['info', 'version9.qcow2'], ['convert', 'over-missing.qcow2', 'out.raw']]) {
      expect(await tool(configuration, args, fifoDir), args.join(' ')).toEqual(asTessera(await qemuImg(args, fifoDir)));
    }
  });
});

describe.each(configurations)('%s: convert onto thin and full targets', (configuration) => {
  it('-n keeps a thin target thin, and -S 0 writes every byte', async () => {
    const work = await tempDir();
    await writeImage(join(work, 'in.raw'), 8 * MiB, [[3 * MiB, source]]);
    await writeImage(join(work, 'thin.raw'), 8 * MiB);
    expect((await tool(configuration, ['convert', '-n', '-O', 'raw', 'in.raw', 'thin.raw'], work)).code).toBe(0);
    expect(readFileSync(join(work, 'thin.raw')).equals(readFileSync(join(work, 'in.raw')))).toBe(true);
    expect(await allocatedBytes(join(work, 'thin.raw'))).toBeLessThanOrEqual(256 * 1024);

    // Onto a target holding data, the zeroes are written: the result is the source.
    writeFileSync(join(work, 'full.raw'), Buffer.alloc(8 * MiB, 0xee));
    expect((await tool(configuration, ['convert', '-n', '-O', 'raw', 'in.raw', 'full.raw'], work)).code).toBe(0);
    expect(readFileSync(join(work, 'full.raw')).equals(readFileSync(join(work, 'in.raw')))).toBe(true);

    // -S 0 from a qcow2 image that has nothing allocated: every byte of the raw output is written.
    await qemuImg(['create', '-f', 'qcow2', join(work, 'empty.qcow2'), '8M']);
    expect((await tool(configuration, ['convert', '-S', '0', '-O', 'raw', 'empty.qcow2', 'full-S0.raw'], work)).code).toBe(0);
    expect(await allocatedBytes(join(work, 'full-S0.raw'))).toBeGreaterThanOrEqual(8 * MiB);
  });

  it('a full file system is reported in qemu-img words', async (context) => {
    const work = await tempDir();
    const mount = join(work, 'small');
    mkdirSync(mount);
    const reason = mountSmallTmpfs(mount);
    if (reason) return context.skip(reason);
    try {
      await writeImage(join(work, 'in.raw'), 3 * MiB, [[0, random(3 * MiB)]]);
      const convert = await tool(configuration, ['convert', '-O', 'raw', 'in.raw', 'small/out.raw'], work);
      expect(convert.code).toBe(1);
      expect(convert.stderr).toMatch(/^tessera-img: error while writing at byte \d+: No space left on device\n$/);
      execFileSync('rm', ['-f', join(mount, 'out.raw')]);
      const args = ['dd', 'if=in.raw', 'of=small/out.raw', 'bs=64k'];
      const dd = await tool(configuration, args, work);
      execFileSync('rm', ['-f', join(mount, 'out.raw')]);
      expect(dd).toEqual(asTessera(await qemuImg(args, work)));
    } finally {
      execFileSync('umount', [mount]);
    }
  });
});

describe.each(configurations)('%s: a 1 TiB empty qcow2 image', (configuration) => {
  it('is compared, converted, mapped, checked and measured by its metadata, not its size', async () => {
    const work = await tempDir();
    await qemuImg(['create', '-f', 'qcow2', join(work, 'empty.qcow2'), '1T']);
    await qemuImg(['create', '-f', 'qcow2', join(work, 'other.qcow2'), '1T']);
    for (const args of [
      ['compare', 'empty.qcow2', 'other.qcow2'],
      ['map', '--output=json', 'empty.qcow2'],
      ['check', 'empty.qcow2'],
      ['measure', '-O', 'qcow2', 'empty.qcow2'],
    ]) {
      const started = Date.now();
      const ours = await tool(configuration, args, work);
      // Reading 1 TiB would take many minutes; following the metadata takes well under a second.
      expect(Date.now() - started, args.join(' ')).toBeLessThan(10_000);
      expect(ours, args.join(' ')).toEqual(asTessera(await qemuImg(args, work)));
    }
    const started = Date.now();
    expect((await tool(configuration, ['convert', '-O', 'qcow2', 'empty.qcow2', 'copy.qcow2'], work)).code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await qemuImg(['check', join(work, 'copy.qcow2')])).code).toBe(0);
    expect((await qemuImg(['compare', join(work, 'empty.qcow2'), join(work, 'copy.qcow2')])).stdout).toBe('Images are identical.\n');
  });
});
