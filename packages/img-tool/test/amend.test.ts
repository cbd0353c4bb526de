// `amend`: qemu-img's messages and exit codes; images amended here read as qemu-img's amended
// ones do (same info, compare equal), pass qemu-img check, and the header comes out byte for byte
// as qemu-img writes it where the layout allows.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { both, configurations, qemuImg, qemuIo, tempDir, tool, twinDirs, type Configuration } from './helpers.ts';

describe.each(configurations)('amend (%s)', (configuration: Configuration) => {
  let fixture: string;

  beforeAll(async () => {
    fixture = await tempDir();
    const create = (...args: string[]) => execFileSync('qemu-img', ['create', '-q', ...args], { cwd: fixture });
    create('-f', 'qcow2', 'v3.qcow2', '1M');
    create('-f', 'qcow2', '-o', 'compat=0.10', 'v2.qcow2', '1M');
    create('-f', 'raw', 'disk.raw', '1M');
    create('-f', 'qcow2', '-o', 'extended_l2=on', 'ext.qcow2', '1M');
    create('-f', 'qcow2', '-o', 'refcount_bits=8', 'r8.qcow2', '1M');
    create('-f', 'qcow2', '-o', 'data_file=data.raw', 'df.qcow2', '1M');
    create('-f', 'raw', 'other.raw', '1M');
    create('-f', 'qcow2', '-o', 'lazy_refcounts=on', 'lazy.qcow2', '2M');
    qemuIo(join(fixture, 'lazy.qcow2'), 'write -P 3 0 300k');
    create('-f', 'qcow2', 'snap.qcow2', '1M');
    qemuIo(join(fixture, 'snap.qcow2'), 'write -P 4 0 200k');
    execFileSync('qemu-img', ['snapshot', '-c', 's', 'snap.qcow2'], { cwd: fixture });
    create('-f', 'qcow2', 'zero.qcow2', '1M');
    qemuIo(join(fixture, 'zero.qcow2'), 'write -z 0 64k', 'write -P 1 64k 64k', 'write -P 2 512k 64k', 'write -z 512k 64k');
    create('-f', 'qcow2', '-b', 'zero.qcow2', '-F', 'qcow2', 'overlay.qcow2');
    qemuIo(join(fixture, 'overlay.qcow2'), 'write -z 0 128k', 'write -P 5 192k 64k');
    create('-f', 'qcow2', '-o', 'cluster_size=4k', '-b', 'zero.qcow2', '-F', 'qcow2', 'small.qcow2');
    qemuIo(join(fixture, 'small.qcow2'), 'write -P 6 10k 20k', 'write -z 100k 12k');
  });

  /** Twin dirs: same output; for a successful amend the same info, equal content, a clean check, the same header cluster. */
  async function sameAsQemu(args: string[], file?: string): Promise<{ qemu: string; ours: string }> {
    const dirs = await twinDirs(fixture);
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(ours).toEqual(qemu);
    if (file !== undefined && qemu.code === 0) {
      const [theirs, mine] = [join(dirs.qemu, file), join(dirs.ours, file)];
      // Run in the image's directory: qemu-img opens a data file relative to the working directory.
      const info = async (dir: string) => {
        const json = JSON.parse((await qemuImg(['info', '--output=json', file], dir)).stdout) as Record<string, unknown>;
        for (const key of ['filename', 'actual-size', 'full-backing-filename']) delete json[key];
        return json;
      };
      expect(await info(dirs.ours)).toEqual(await info(dirs.qemu));
      if (file !== 'df.qcow2') {
        const compare = await qemuImg(['compare', theirs, mine]);
        expect(compare.stdout).toBe('Images are identical.\n');
      }
      const check = await qemuImg(['check', file], dirs.ours);
      expect(check.stdout).toContain('No errors were found on the image.');
      expect(check.code).toBe(0);
      const header = async (path: string) => (await readFile(path)).subarray(0, 512);
      expect(Buffer.compare(await header(mine), await header(theirs))).toBe(0);
    }
    return dirs;
  }

  it.each([
    [['amend', '-o', 'compat=0.10', 'v3.qcow2']],
    [['amend', '-o', 'compat=1.1', 'v2.qcow2']],
    [['amend', '-o', 'compat=1.1,lazy_refcounts=on', 'v2.qcow2']],
    [['amend', '-o', 'lazy_refcounts=on', 'v3.qcow2']],
    [['amend', '-o', 'lazy_refcounts=off', 'lazy.qcow2']],
    [['amend', '-o', 'compat=0.10', 'lazy.qcow2']],
    [['amend', '-o', 'size=4M', 'v3.qcow2']],
    [['amend', '-o', 'compat=0.10', 'zero.qcow2']],
    [['amend', '-o', 'compat=0.10', 'overlay.qcow2']],
    [['amend', '-o', 'compat=0.10', 'small.qcow2']],
    [['amend', '-o', 'compat=1.1', '-o', 'compat=0.10', 'v3.qcow2']],
    [['amend', '-o', 'refcount_bits=1', 'v3.qcow2']],
    [['amend', '-o', 'refcount_bits=64', 'lazy.qcow2']],
    [['amend', '-o', 'refcount_bits=2', 'zero.qcow2']],
    [['amend', '-o', 'refcount_bits=16', 'r8.qcow2']],
    [['amend', '-o', 'data_file=other.raw', 'df.qcow2']],
    [['amend', '-p', '-o', 'lazy_refcounts=on', 'v3.qcow2']],
    [['amend', '-q', '-f', 'qcow2', '-t', 'none', '--force', '-o', 'compat=0.10', 'v3.qcow2']],
  ])('%j: same output, same image', (args) => sameAsQemu(args, args.at(-1)).then(() => undefined));

  it.each([
    [['amend', 'v3.qcow2']],
    [['amend', '-o', 'compat=0.10']],
    [['amend', '-o', 'help', 'v3.qcow2']],
    [['amend', '-o', 'cluster_size=4k', 'v3.qcow2']],
    [['amend', '-o', 'extended_l2=on', 'v3.qcow2']],
    [['amend', '-o', 'foo=1', 'v3.qcow2']],
    [['amend', '-o', 'encrypt.state=active', 'v3.qcow2']],
    [['amend', '-o', 'encrypt.keyslot=abc', 'v3.qcow2']],
    [['amend', '-o', 'compat=2', 'v3.qcow2']],
    [['amend', '-o', 'backing_file=disk.raw,backing_fmt=raw', 'v3.qcow2']],
    [['amend', '-o', 'data_file=x', 'v3.qcow2']],
    [['amend', '-o', 'lazy_refcounts=on', 'v2.qcow2']],
    [['amend', '-o', 'refcount_bits=8', 'v2.qcow2']],
    [['amend', '-o', 'compat=0.10', 'ext.qcow2']],
    [['amend', '-o', 'refcount_bits=1', 'snap.qcow2']],
    [['amend', '-o', 'refcount_bits=3', 'v3.qcow2']],
    [['amend', '-o', 'compat=0.10', 'r8.qcow2']],
    [['amend', '-o', 'compat=0.10', 'df.qcow2']],
    [['amend', '-t', 'foo', '-o', 'compat=1.1', 'v3.qcow2']],
    [['amend', '-f', 'raw', '-o', 'size=2M', 'disk.raw']],
    [['amend', '-o', 'compat=1.1', 'missing.qcow2']],
  ])('%j: the same refusal (or help)', (args) => sameAsQemu(args).then(() => undefined));

  // qemu-img 7.2 downgrades these too, but overwrites the snapshot's data in a cluster the active
  // layer has zeroed (and leaves it marked COPIED): only its refusals are compared, not its result.
  it.each([['without a backing file', false], ['over a backing file', true]] as const)(
    'downgrading an image with a snapshot and zero clusters %s keeps both layers and a clean image',
    async (_name, backed) => {
      const dir = await tempDir();
      const at = (file: string) => join(dir, file);
      if (backed) {
        execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', at('base.qcow2'), '4M']);
        qemuIo(at('base.qcow2'), 'write -P 7 0 4M');
        execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', at('img.qcow2')]);
      } else {
        execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', at('img.qcow2'), '4M']);
      }
      qemuIo(at('img.qcow2'), 'write -P 1 0 1M', 'write -z 1M 128k', 'write -z 2M 64k');
      execFileSync('qemu-img', ['snapshot', '-c', 'one', at('img.qcow2')]);
      // A zero write over a cluster the snapshot shares keeps the cluster (zero, allocated).
      qemuIo(at('img.qcow2'), 'write -z 0 64k', 'write -P 2 3M 64k', 'write -z 3M 64k', 'write -z 2560k 64k');
      execFileSync('qemu-img', ['convert', '-O', 'raw', at('img.qcow2'), at('active.raw')]);
      execFileSync('qemu-img', ['convert', '-l', 'one', '-O', 'raw', at('img.qcow2'), at('one.raw')]);

      const result = await tool(configuration, ['amend', '-o', 'compat=0.10', 'img.qcow2'], dir);
      expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
      const check = await qemuImg(['check', 'img.qcow2'], dir);
      expect(check.stderr).toBe('');
      expect(check.code).toBe(0);
      const info = JSON.parse((await qemuImg(['info', '--output=json', 'img.qcow2'], dir)).stdout) as { 'format-specific': { data: { compat: string } }; snapshots: unknown[] };
      expect(info['format-specific'].data.compat).toBe('0.10');
      expect(info.snapshots).toHaveLength(1);
      expect((await qemuImg(['compare', '-f', 'qcow2', '-F', 'raw', 'img.qcow2', 'active.raw'], dir)).code).toBe(0);
      execFileSync('qemu-img', ['convert', '-l', 'one', '-O', 'raw', at('img.qcow2'), at('one-after.raw')]);
      expect(Buffer.compare(await readFile(at('one-after.raw')), await readFile(at('one.raw')))).toBe(0);
    },
  );

  it('an image downgraded here, then written by qemu-io, stays clean and equal', async () => {
    const dirs = await sameAsQemu(['amend', '-o', 'compat=0.10', 'overlay.qcow2'], 'overlay.qcow2');
    for (const dir of [dirs.qemu, dirs.ours]) qemuIo(join(dir, 'overlay.qcow2'), 'write -P 9 0 100k', 'write -z 900k 64k');
    expect((await qemuImg(['compare', join(dirs.qemu, 'overlay.qcow2'), join(dirs.ours, 'overlay.qcow2')])).stdout).toBe('Images are identical.\n');
    expect((await qemuImg(['check', join(dirs.ours, 'overlay.qcow2')])).code).toBe(0);
  });
});
