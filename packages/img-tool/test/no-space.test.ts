// A full file system (a 2 MiB tmpfs) under convert, create and resize: qemu-img's message (the C
// library's "No space left on device", never Node's "ENOSPC: …, write"), exit 1, and an output
// that is not passed off as complete. Skipped where mounting is not permitted.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MiB, asTessera, configurations, qemuImg, random, tempDir, tool, writeImage, type RunResult } from './helpers.ts';

const configuration = configurations[0]!;
let work: string;
let mount: string;
let unmountable: string | undefined;

beforeAll(async () => {
  work = await tempDir();
  mount = join(work, 'small');
  mkdirSync(mount);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2M', 'tmpfs', mount], { stdio: 'ignore' });
  } catch (error) {
    unmountable = `mounting a tmpfs is not permitted here: ${(error as Error).message.split('\n')[0]}`;
  }
  await writeImage(join(work, 'in.raw'), 8 * MiB, [[0, random(8 * MiB)]]);
});

afterAll(() => {
  if (!unmountable) execFileSync('umount', [mount]);
});

/** Run a command line with each tool on an empty file system (`prepare` makes its input there first). */
async function onFullDisk(args: readonly string[], prepare?: () => Promise<unknown>): Promise<{ qemu: RunResult; ours: RunResult }> {
  const results: RunResult[] = [];
  for (const run of [() => qemuImg(args, work), () => tool(configuration, args, work)]) {
    for (const name of readdirSync(mount)) rmSync(join(mount, name), { force: true });
    await prepare?.();
    results.push(await run());
  }
  return { qemu: asTessera(results[0]!), ours: results[1]! };
}

describe('out of space', () => {
  it.for([
    [['create', '-q', '-f', 'raw', '-o', 'preallocation=full', 'small/p.raw', '8M']],
    [['create', '-q', '-f', 'qcow2', '-o', 'preallocation=full', 'small/p.qcow2', '8M']],
  ] as const)('%j: as qemu-img', async ([args], context) => {
    if (unmountable) return context.skip(unmountable);
    const { qemu, ours } = await onFullDisk(args);
    expect(qemu.code).toBe(1);
    expect(ours).toEqual(qemu);
  });

  it.for([
    ['raw', ['resize', '-f', 'raw', '--preallocation=full', 'small/r.img', '8M']],
    ['qcow2', ['resize', '-f', 'qcow2', '--preallocation=full', 'small/r.img', '8M']],
  ] as const)('resize %s --preallocation=full: as qemu-img', async ([format, args], context) => {
    if (unmountable) return context.skip(unmountable);
    const { qemu, ours } = await onFullDisk(args, () => qemuImg(['create', '-q', '-f', format, join(mount, 'r.img'), '1M']));
    expect(qemu.code).toBe(1);
    expect(ours).toEqual(qemu);
  });

  it('convert -O qcow2: the write that failed is named, exit 1', async (context) => {
    if (unmountable) return context.skip(unmountable);
    const { qemu, ours } = await onFullDisk(['convert', '-O', 'qcow2', 'in.raw', 'small/out.qcow2']);
    // (Which write fails first depends on timing, in qemu-img too.)
    for (const result of [qemu, ours]) {
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^tessera-img: error while writing at byte \d+: No space left on device\n$/);
    }
    expect((await qemuImg(['compare', '-q', 'in.raw', join(mount, 'out.qcow2')])).code).not.toBe(0);
  });
});
