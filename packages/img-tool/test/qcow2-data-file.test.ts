// qcow2 images with an external data file: created as qemu-img creates them (same header, a data
// file of the virtual size) and written here (convert -n into them): the data lands in the data
// file at the guest offset, qemu-img check stays clean, and qemu-img reads the guest bytes back.
// qemu-img opens a data file relative to its working directory, so every command runs in the
// image's directory.
import { execFileSync } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { both, configurations, qemuImg, tempDir, tool, type Configuration } from './helpers.ts';

describe.each(configurations)('qcow2 external data file (%s)', (configuration: Configuration) => {
  async function create(options: string): Promise<{ qemuDir: string; ourDir: string }> {
    const [qemuDir, ourDir] = [await tempDir(), await tempDir()];
    const { qemu, ours } = await both(configuration, ['create', '-f', 'qcow2', '-o', options, 'x.qcow2', '4M'], { qemu: qemuDir, ours: ourDir });
    expect(ours).toEqual(qemu);
    return { qemuDir, ourDir };
  }

  it.each(['data_file=x.raw', 'data_file=x.raw,data_file_raw=on', 'data_file=x.raw,preallocation=metadata', 'data_file=x.raw,cluster_size=4096'])(
    'create -o %s: the same image and data file as qemu-img',
    async (options) => {
      const { qemuDir, ourDir } = await create(options);
      expect(Buffer.compare(await readFile(join(ourDir, 'x.qcow2')), await readFile(join(qemuDir, 'x.qcow2')))).toBe(0);
      expect((await stat(join(ourDir, 'x.raw'))).size).toBe((await stat(join(qemuDir, 'x.raw'))).size);
      const check = await qemuImg(['check', 'x.qcow2'], ourDir);
      expect(check.code, check.stderr).toBe(0);
    },
  );

  it.each([
    ['data_file_raw=on'],
    ['data_file=x.raw,compat=0.10'],
  ])('create -o %s: the same refusal', async (options) => {
    const [qemuDir, ourDir] = [await tempDir(), await tempDir()];
    const { qemu, ours } = await both(configuration, ['create', '-f', 'qcow2', '-o', options, 'x.qcow2', '4M'], { qemu: qemuDir, ours: ourDir });
    expect(ours).toEqual(qemu);
  });

  it.each(['data_file=x.raw', 'data_file=x.raw,data_file_raw=on', 'data_file=x.raw,preallocation=metadata'])(
    '-o %s: writes go to the data file at their guest offsets',
    async (options) => {
      const { ourDir } = await create(options);
      execFileSync('qemu-img', ['create', '-q', '-f', 'raw', 'src.raw', '4M'], { cwd: ourDir });
      execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 7 64k 1M', '-c', 'write -P 9 3M 5k', '-c', 'write -P 1 0 512', 'src.raw'], { cwd: ourDir, stdio: 'ignore' });
      const convert = await tool(configuration, ['convert', '-n', '-f', 'raw', '-O', 'qcow2', 'src.raw', 'x.qcow2'], ourDir);
      expect(convert.code, convert.stderr).toBe(0);
      const check = await qemuImg(['check', 'x.qcow2'], ourDir);
      expect(check.code, check.stdout + check.stderr).toBe(0);
      expect((await qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', 'src.raw', 'x.qcow2'], ourDir)).stdout).toBe('Images are identical.\n');
      // The data file holds the guest bytes where the guest has them.
      const [source, data] = await Promise.all([readFile(join(ourDir, 'src.raw')), readFile(join(ourDir, 'x.raw'))]);
      for (const [offset, length] of [[64 * 1024, 1024 * 1024], [3 * 1024 * 1024, 5 * 1024], [0, 512]] as const) {
        expect(Buffer.compare(data.subarray(offset, offset + length), source.subarray(offset, offset + length))).toBe(0);
      }
      // qemu-io writes to it too, and reads ours back.
      execFileSync('qemu-io', ['-c', 'write -P 5 2M 64k', '-c', 'read -P 7 64k 1M', 'x.qcow2'], { cwd: ourDir, stdio: 'ignore' });
      expect((await qemuImg(['check', 'x.qcow2'], ourDir)).code).toBe(0);
    },
  );
});
