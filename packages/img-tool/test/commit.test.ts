// `commit` on qcow2 chains two and three deep: the base gets what the images above it hold (the
// same content as after qemu-img commit), the top is emptied unless -d or -b, qemu-img check is
// clean, and bad command lines get qemu-img's messages and exit codes.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { both, configurations, qemuImg, qemuIo, tempDir, twinDirs, type Configuration, type RunResult } from './helpers.ts';

async function chainFixture(): Promise<string> {
  const dir = await tempDir();
  const img = (...args: string[]) => execFileSync('qemu-img', args, { cwd: dir, stdio: 'ignore' });
  img('create', '-f', 'qcow2', 'base.qcow2', '1M');
  qemuIo(join(dir, 'base.qcow2'), 'write -P 1 0 256k', 'write -P 9 900k 20k');
  img('create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'mid.qcow2');
  qemuIo(join(dir, 'mid.qcow2'), 'write -P 2 64k 64k', 'write -z 128k 64k', 'write -P 4 700k 3k');
  img('create', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2');
  qemuIo(join(dir, 'top.qcow2'), 'write -P 3 192k 100k', 'write -z 900k 4k');
  img('create', '-f', 'qcow2', 'other.qcow2', '1M');
  img('create', '-f', 'raw', 'plain.raw', '1M');
  // A raw base under a qcow2 overlay.
  img('create', '-f', 'raw', 'rbase.raw', '1M');
  img('create', '-f', 'qcow2', '-b', 'rbase.raw', '-F', 'raw', 'rtop.qcow2');
  qemuIo(join(dir, 'rtop.qcow2'), 'write -P 6 4k 70k');
  // Compressed clusters and extended L2 entries (subclusters, zero subclusters) in the image emptied.
  img('create', '-f', 'qcow2', 'cbase.qcow2', '1M');
  img('convert', '-c', '-f', 'qcow2', '-O', 'qcow2', '-B', 'cbase.qcow2', '-F', 'qcow2', 'top.qcow2', 'ctop.qcow2');
  img('create', '-f', 'qcow2', '-o', 'extended_l2=on', '-b', 'base.qcow2', '-F', 'qcow2', 'etop.qcow2');
  qemuIo(join(dir, 'etop.qcow2'), 'write -P 5 3k 5k', 'write -z 200k 8k', 'write -P 6 500k 70k');
  // Bases smaller than the image above them: commit grows them first.
  img('create', '-f', 'qcow2', 'sbase.qcow2', '512k');
  qemuIo(join(dir, 'sbase.qcow2'), 'write -P 1 0 64k');
  img('create', '-f', 'qcow2', '-b', 'sbase.qcow2', '-F', 'qcow2', 'stop.qcow2', '1M');
  qemuIo(join(dir, 'stop.qcow2'), 'write -P 2 900k 10k', 'write -P 3 32k 4k');
  img('create', '-f', 'raw', 'srbase.raw', '512k');
  img('create', '-f', 'qcow2', '-b', 'srbase.raw', '-F', 'raw', 'srtop.qcow2', '1M');
  qemuIo(join(dir, 'srtop.qcow2'), 'write -P 2 900k 10k');
  return dir;
}

/** Output with the `-p` progress lines (how often they are redrawn differs) taken out. */
function withoutProgress(result: RunResult): RunResult {
  return { ...result, stdout: result.stdout.replace(/ {4}\(\d+\.\d\d\/100%\)\r/g, '') };
}

interface MapRow {
  start: number;
  length: number;
  depth: number;
  present: boolean;
  zero: boolean;
  data: boolean;
  offset?: number;
}

/** qemu-img map rows without host offsets, neighbours that then look alike merged. */
function layers(json: string): MapRow[] {
  const rows: MapRow[] = [];
  for (const { offset: _, ...row } of JSON.parse(json) as MapRow[]) {
    const last = rows.at(-1);
    if (last && last.depth === row.depth && last.present === row.present && last.zero === row.zero && last.data === row.data) last.length += row.length;
    else rows.push(row);
  }
  return rows;
}

describe.each(configurations)('commit (%s)', (configuration: Configuration) => {
  let fixture: string;
  beforeAll(async () => {
    fixture = await chainFixture();
  });

  it.each([
    [['top.qcow2'], ['top.qcow2', 'mid.qcow2', 'base.qcow2']],
    [['-d', 'top.qcow2'], ['top.qcow2', 'mid.qcow2', 'base.qcow2']],
    [['-b', 'base.qcow2', 'top.qcow2'], ['top.qcow2', 'base.qcow2']],
    [['-p', '-b', 'mid.qcow2', 'top.qcow2'], ['top.qcow2', 'mid.qcow2', 'base.qcow2']],
    [['-q', 'mid.qcow2'], ['top.qcow2', 'mid.qcow2', 'base.qcow2']],
    [['-r', '1M', 'rtop.qcow2'], ['rtop.qcow2', 'rbase.raw']],
    [['stop.qcow2'], ['stop.qcow2', 'sbase.qcow2']],
    [['ctop.qcow2'], ['ctop.qcow2', 'cbase.qcow2']],
    [['etop.qcow2'], ['etop.qcow2', 'base.qcow2']],
    [['srtop.qcow2'], ['srtop.qcow2', 'srbase.raw']],
  ])('%j: output as qemu-img; every image of the chain reads as after qemu-img commit', async (args, images) => {
    const dirs = await twinDirs(fixture);
    const { qemu, ours } = await both(configuration, ['commit', ...args], dirs);
    expect(withoutProgress(ours)).toEqual(withoutProgress(qemu));
    if (args.includes('-p')) expect(ours.stdout).toContain('    (100.00/100%)\r');
    for (const image of images) {
      const [q, o] = [join(dirs.qemu, image), join(dirs.ours, image)];
      // Each image alone (-U, no chain for the raw base) as qemu-img sees it.
      expect((await qemuImg(['compare', q, o])).stdout).toBe('Images are identical.\n');
      if (image.endsWith('.qcow2')) expect((await qemuImg(['check', o])).code).toBe(0);
    }
    // Which image of the chain holds each range: the top emptied unless -d or -b (host offsets
    // inside the images differ with the order clusters were allocated in, so they are left out).
    const top = images[0]!;
    const map = async (dir: string) => layers((await qemuImg(['map', '--output=json', join(dir, top)])).stdout);
    expect(await map(dirs.ours)).toEqual(await map(dirs.qemu));
  });

  it('emptying an image with an internal snapshot keeps the snapshot (its clusters stay referenced)', async () => {
    const dirs = await twinDirs(fixture);
    for (const dir of [dirs.qemu, dirs.ours]) {
      execFileSync('qemu-img', ['create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'snap.qcow2'], { cwd: dir, stdio: 'ignore' });
      qemuIo(join(dir, 'snap.qcow2'), 'write -P 3 0 200k');
      execFileSync('qemu-img', ['snapshot', '-c', 's1', 'snap.qcow2'], { cwd: dir, stdio: 'ignore' });
      qemuIo(join(dir, 'snap.qcow2'), 'write -P 4 100k 200k');
    }
    const { qemu, ours } = await both(configuration, ['commit', 'snap.qcow2'], dirs);
    expect(ours).toEqual(qemu);
    const [q, o] = [join(dirs.qemu, 'snap.qcow2'), join(dirs.ours, 'snap.qcow2')];
    expect((await qemuImg(['check', o])).code).toBe(0);
    expect((await qemuImg(['compare', q, o])).stdout).toBe('Images are identical.\n');
    for (const file of [q, o]) execFileSync('qemu-img', ['snapshot', '-a', 's1', file], { stdio: 'ignore' });
    expect((await qemuImg(['compare', q, o])).stdout).toBe('Images are identical.\n');
    expect((await qemuImg(['check', o])).code).toBe(0);
  });

  it.each([
    [['commit']],
    [['commit', 'base.qcow2']],
    [['commit', '-f', 'raw', 'plain.raw']],
    [['commit', '-b', 'other.qcow2', 'top.qcow2']],
    [['commit', '-b', 'top.qcow2', 'top.qcow2']],
    [['commit', '-b', 'nope', 'top.qcow2']],
    [['commit', '-r', '1x', 'top.qcow2']],
    [['commit', '-r', '-5', 'top.qcow2']],
    [['commit', '-t', 'foo', 'top.qcow2']],
    [['commit', '-f', 'foo', 'top.qcow2']],
    [['commit', 'missing.qcow2']],
    [['commit', '--image-opts', '-f', 'qcow2', 'top.qcow2']],
  ])('%j: message and exit code as qemu-img', async (args) => {
    const dirs = await twinDirs(fixture);
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(ours).toEqual(qemu);
  });
});
