// `rebase` (safe and -u) on qcow2 chains two and three deep: the same guest content, backing fields
// and check verdict as qemu-img's result; qemu-img's messages and exit codes for bad command lines.
import { execFileSync } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { both, configurations, qemuImg, qemuIo, tempDir, twinDirs, type Configuration, type RunResult } from './helpers.ts';

/** base <- mid <- top, each writing its own pattern; zero clusters in mid over base data. */
async function chainFixture(): Promise<string> {
  const dir = await tempDir();
  const img = (...args: string[]) => execFileSync('qemu-img', args, { cwd: dir, stdio: 'ignore' });
  img('create', '-f', 'qcow2', 'base.qcow2', '1M');
  qemuIo(join(dir, 'base.qcow2'), 'write -P 1 0 256k', 'write -P 9 900k 20k');
  img('create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'mid.qcow2');
  qemuIo(join(dir, 'mid.qcow2'), 'write -P 2 64k 64k', 'write -z 128k 64k', 'write -P 4 700k 3k');
  img('create', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2');
  qemuIo(join(dir, 'top.qcow2'), 'write -P 3 192k 100k');
  img('create', '-f', 'qcow2', 'other.qcow2', '1M');
  qemuIo(join(dir, 'other.qcow2'), 'write -P 5 32k 512k');
  img('create', '-f', 'raw', 'plain.raw', '1M');
  return dir;
}

/** Output with the `-p` progress lines (how often they are redrawn differs) taken out. */
function withoutProgress(result: RunResult): RunResult {
  return { ...result, stdout: result.stdout.replace(/ {4}\(\d+\.\d\d\/100%\)\r/g, '') };
}

async function backingFields(file: string): Promise<unknown> {
  const info = JSON.parse((await qemuImg(['info', '--output=json', file])).stdout) as Record<string, unknown>;
  return [info['backing-filename'], info['backing-filename-format']];
}

describe.each(configurations)('rebase (%s)', (configuration: Configuration) => {
  let fixture: string;
  beforeAll(async () => {
    fixture = await chainFixture();
  });

  it.each([
    [['-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2']],
    [['-b', 'other.qcow2', '-F', 'qcow2', 'top.qcow2']],
    [['-b', '', 'top.qcow2']],
    [['-b', '', 'mid.qcow2']],
    [['-p', '-b', 'base.qcow2', '-F', 'qcow2', 'mid.qcow2']],
    [['-u', '-b', 'other.qcow2', '-F', 'qcow2', 'top.qcow2']],
    [['-u', '-b', 'missing.qcow2', '-F', 'qcow2', 'top.qcow2']],
    [['-u', 'top.qcow2']],
  ])('%j: same content, backing fields and clean check as qemu-img', async (args) => {
    const dirs = await twinDirs(fixture);
    const original = join(fixture, 'top.qcow2');
    const { qemu, ours } = await both(configuration, ['rebase', ...args], dirs);
    expect(withoutProgress(ours)).toEqual(withoutProgress(qemu));
    if (args.includes('-p')) expect(ours.stdout).toContain('    (100.00/100%)\r');
    const image = args.at(-1)!;
    const [q, o] = [join(dirs.qemu, image), join(dirs.ours, image)];
    expect(await backingFields(o)).toEqual(await backingFields(q));
    if (!args.includes('missing.qcow2')) expect((await qemuImg(['check', o])).code).toBe(0);
    if (!args.includes('-u')) {
      // Safe mode keeps the guest content: the same as before and as qemu-img's result.
      expect((await qemuImg(['compare', q, o])).code).toBe(0);
      if (image === 'top.qcow2') expect((await qemuImg(['compare', original, o])).code).toBe(0);
    }
  });

  it.each([
    [['rebase', 'top.qcow2']],
    [['rebase', '-b', 'x']],
    [['rebase', '-b', 'base.qcow2', 'a', 'b']],
    [['rebase', '-b', 'nope.qcow2', 'top.qcow2']],
    [['rebase', '-b', 'nope.qcow2', '-F', 'qcow2', 'top.qcow2']],
    [['rebase', '-u', '-b', 'base.qcow2', 'top.qcow2']],
    [['rebase', '-b', 'base.qcow2', 'top.qcow2']],
    [['rebase', '-b', 'base.qcow2', 'missing.qcow2']],
    [['rebase', '-f', 'raw', '-b', 'base.qcow2', '-F', 'qcow2', 'plain.raw']],
    [['rebase', '-f', 'raw', '-u', '-b', '', 'plain.raw']],
    [['rebase', '-t', 'foo', '-b', 'base.qcow2', 'top.qcow2']],
    [['rebase', '-T', 'foo', '-b', 'base.qcow2', 'top.qcow2']],
    [['rebase', '-f', 'foo', '-b', 'base.qcow2', 'top.qcow2']],
    [['rebase', '-F', 'foo', '-b', 'base.qcow2', 'top.qcow2']],
    [['rebase', '--image-opts', '-f', 'qcow2', '-b', 'base.qcow2', 'top.qcow2']],
    [['rebase', '-c', '-b', 'base.qcow2', 'top.qcow2']],
  ])('%j: message and exit code as qemu-img', async (args) => {
    const dirs = await twinDirs(fixture);
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(ours).toEqual(qemu);
  });

  it('-u works when the old backing file is gone (it is not opened)', async () => {
    const dirs = await twinDirs(fixture);
    for (const dir of [dirs.qemu, dirs.ours]) await rm(join(dir, 'mid.qcow2'));
    for (const args of [['-u', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'], ['-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'], ['-u', '-b', 'base.qcow2', '-F', 'qcow2', 'missing.qcow2']]) {
      const { qemu, ours } = await both(configuration, ['rebase', ...args], dirs);
      expect(ours).toEqual(qemu);
    }
    expect(await backingFields(join(dirs.ours, 'top.qcow2'))).toEqual(await backingFields(join(dirs.qemu, 'top.qcow2')));
    expect((await qemuImg(['check', join(dirs.ours, 'top.qcow2')])).code).toBe(0);
  });

  it.each([['compat=0.10'], ['cluster_size=512'], ['cluster_size=2M'], ['extended_l2=on'], ['lazy_refcounts=on,refcount_bits=1']])(
    'rewriting the header of an image made with -o %s keeps every other field (qemu-img info alike)',
    async (options) => {
      const dirs = await twinDirs(fixture);
      const make = ['create', '-f', 'qcow2', '-o', options, '-b', 'base.qcow2', '-F', 'qcow2', 'opts.qcow2', '1M'];
      for (const dir of [dirs.qemu, dirs.ours]) execFileSync('qemu-img', make, { cwd: dir, stdio: 'ignore' });
      for (const args of [['-u', '-b', 'a-much-longer-backing-file-name.qcow2', '-F', 'raw'], ['-u', '-b', ''], ['-u', '-b', 'b.img', '-F', 'qcow2']]) {
        const { qemu, ours } = await both(configuration, ['rebase', ...args, 'opts.qcow2'], dirs);
        expect(ours).toEqual(qemu);
        const info = async (dir: string) => {
          const json = JSON.parse((await qemuImg(['info', '-U', '--output=json', join(dir, 'opts.qcow2')])).stdout) as Record<string, unknown>;
          delete json['filename'];
          delete json['actual-size'];
          delete json['full-backing-filename'];
          return json;
        };
        expect(await info(dirs.ours)).toEqual(await info(dirs.qemu));
        // Only the first cluster changes, and it is laid out as qemu-img lays it out.
        expect(Buffer.compare(await readFile(join(dirs.ours, 'opts.qcow2')), await readFile(join(dirs.qemu, 'opts.qcow2')))).toBe(0);
        expect((await qemuImg(['check', '-U', join(dirs.ours, 'opts.qcow2')])).code).toBe(args.includes('') ? 0 : 1);
      }
    },
  );

  it('refuses a backing file name that does not fit in the first cluster', async () => {
    const dirs = await twinDirs(fixture);
    for (const dir of [dirs.qemu, dirs.ours]) execFileSync('qemu-img', ['create', '-f', 'qcow2', '-o', 'cluster_size=512', 'small.qcow2', '1M'], { cwd: dir, stdio: 'ignore' });
    for (const name of ['a'.repeat(380), 'b'.repeat(1100)]) {
      const { qemu, ours } = await both(configuration, ['rebase', '-u', '-b', name, '-F', 'qcow2', 'small.qcow2'], dirs);
      expect(ours).toEqual(qemu);
    }
    expect((await qemuImg(['check', join(dirs.ours, 'small.qcow2')])).code).toBe(0);
  });
});
