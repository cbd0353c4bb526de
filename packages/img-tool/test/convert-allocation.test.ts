// Which clusters `convert` allocates, beside qemu-img as the oracle: -S 0 allocates every
// cluster (zeroes are data), the default -S makes zero runs write-zeroes (qcow2 zero clusters) on
// a target that does not read as zeroes, with -n, -c and -o preallocation; what the sources
// report as zeroes is never data, whatever -S; and commit keeps zero clusters. Each case runs both tools on the same input and compares `qemu-img map` (without host
// offsets), `qemu-img check`'s cluster counts and the bytes.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { configurations, qemuImg, qemuIoFormat, tempDir, tool } from './helpers.ts';

// One configuration: the data path is the same code in both bundles.
const configuration = configurations[0]!;

/** How the target exists before a `-n` convert: made by qemu-img, empty or full of other data. */
type Target = 'new' | 'qcow2-empty' | 'qcow2-full' | 'raw-empty' | 'raw-full' | 'v2-full' | 'extl2-full';

interface Case {
  readonly source: 'raw' | 'qcow2';
  readonly target: Target;
  readonly args: readonly string[];
}

const cases: Case[] = [
  { source: 'qcow2', target: 'new', args: ['-O', 'qcow2'] },
  { source: 'raw', target: 'new', args: ['-S', '0', '-O', 'qcow2'] },
  { source: 'qcow2', target: 'new', args: ['-S', '0', '-O', 'qcow2'] },
  { source: 'qcow2', target: 'new', args: ['-S', '0', '-O', 'qcow2', '-o', 'compat=0.10'] },
  { source: 'qcow2', target: 'new', args: ['-S', '0', '-c', '-O', 'qcow2'] },
  { source: 'raw', target: 'new', args: ['-S', '0', '-O', 'qcow2', '-o', 'preallocation=metadata'] },
  { source: 'qcow2', target: 'new', args: ['-S', '0', '-O', 'qcow2', '-o', 'preallocation=falloc'] },
  { source: 'qcow2', target: 'new', args: ['-O', 'qcow2', '-o', 'preallocation=metadata'] },
  // A sparse size longer than the sources' zero clusters and holes: those are still zeroes, not data.
  { source: 'qcow2', target: 'new', args: ['-S', '1M', '-O', 'qcow2'] },
  { source: 'raw', target: 'qcow2-full', args: ['-n', '-S', '1M', '-O', 'qcow2'] },
  { source: 'qcow2', target: 'qcow2-empty', args: ['-n', '-S', '0', '-O', 'qcow2'] },
  { source: 'raw', target: 'qcow2-full', args: ['-n', '-O', 'qcow2'] },
  { source: 'qcow2', target: 'qcow2-full', args: ['-n', '-O', 'qcow2'] },
  { source: 'qcow2', target: 'qcow2-full', args: ['-n', '-S', '0', '-O', 'qcow2'] },
  { source: 'qcow2', target: 'qcow2-full', args: ['-n', '--target-is-zero', '-O', 'qcow2'] },
  // Zeroes a v2 image records by discarding (no backing file), an extended-L2 one as zero subclusters.
  { source: 'qcow2', target: 'v2-full', args: ['-n', '-O', 'qcow2'] },
  { source: 'qcow2', target: 'extl2-full', args: ['-n', '-O', 'qcow2'] },
  { source: 'qcow2', target: 'raw-empty', args: ['-n', '-O', 'raw'] },
  { source: 'qcow2', target: 'raw-full', args: ['-n', '-S', '0', '-O', 'raw'] },
];

let fixtures: string;

beforeAll(async () => {
  fixtures = await tempDir();
  // Data, zeroes written as data, a hole; in the qcow2 also zero clusters and unallocated ones.
  await qemuImg(['create', '-q', '-f', 'raw', join(fixtures, 'src.raw'), '4M']);
  qemuIoFormat(join(fixtures, 'src.raw'), 'raw', 'write -P 0x11 0 64k', 'write -P 0 64k 960k', 'write -P 0x22 3M 4k');
  await qemuImg(['create', '-q', '-f', 'qcow2', join(fixtures, 'src.qcow2'), '4M']);
  qemuIoFormat(join(fixtures, 'src.qcow2'), 'qcow2', 'write -P 0x11 0 64k', 'write -P 0 64k 448k', 'write -z 512k 512k', 'write -P 0x22 3M 4k');
});

/** The existing target of a `-n` case, made by qemu-img (copying a file would not keep its holes). */
async function makeTarget(file: string, target: Exclude<Target, 'new'>): Promise<void> {
  const [kind, content] = target.split('-') as [string, string];
  const format = kind === 'raw' ? 'raw' : 'qcow2';
  const options = { v2: ['-o', 'compat=0.10'], extl2: ['-o', 'extended_l2=on'] }[kind] ?? [];
  await qemuImg(['create', '-q', '-f', format, ...options, file, '4M']);
  if (content === 'full') qemuIoFormat(file, format, 'write -P 0x33 0 4M');
}

/** What qemu-img sees of an image's allocation: its map without host offsets, and check's counts. */
async function allocation(file: string, format: string): Promise<{ map: unknown; clusters: unknown }> {
  const map = (JSON.parse(execFileSync('qemu-img', ['map', '-f', format, '--output=json', file], { encoding: 'utf8' })) as Array<Record<string, unknown>>).map(
    ({ offset: _offset, ...entry }) => entry,
  );
  if (format !== 'qcow2') return { map, clusters: undefined };
  const check = await qemuImg(['check', '-f', format, '--output=json', file]);
  expect(check.code, check.stdout + check.stderr).toBe(0);
  const { 'allocated-clusters': allocated, 'total-clusters': total, 'compressed-clusters': compressed } = JSON.parse(check.stdout) as Record<string, unknown>;
  return { map, clusters: { allocated, total, compressed } };
}

describe('convert allocates as qemu-img', () => {
  it.each(cases)('$source -> $target $args', async ({ source, target, args }) => {
    const dir = await tempDir();
    const format = args[args.indexOf('-O') + 1]!;
    const outputs = { qemu: join(dir, 'qemu.out'), ours: join(dir, 'ours.out') };
    if (target !== 'new') for (const out of Object.values(outputs)) await makeTarget(out, target);
    const input = ['-f', source, join(fixtures, `src.${source}`)];
    const [qemu, ours] = await Promise.all([
      qemuImg(['convert', ...input, ...args, outputs.qemu]),
      tool(configuration, ['convert', ...input, ...args, outputs.ours]),
    ]);
    expect(qemu.code, qemu.stderr).toBe(0);
    expect(ours.code, ours.stderr).toBe(0);
    expect(await allocation(outputs.ours, format)).toEqual(await allocation(outputs.qemu, format));
    expect((await qemuImg(['compare', '-q', '-f', format, '-F', format, outputs.qemu, outputs.ours])).code).toBe(0);
  });

  it('-n onto a raw target full of other data: its zero runs become zeroes (written, where qemu-img punches holes)', async () => {
    const dir = await tempDir();
    const out = join(dir, 'out.raw');
    await makeTarget(out, 'raw-full');
    const ours = await tool(configuration, ['convert', '-n', '-f', 'qcow2', join(fixtures, 'src.qcow2'), '-O', 'raw', out]);
    expect(ours.code, ours.stderr).toBe(0);
    expect((await qemuImg(['compare', '-q', '-f', 'qcow2', '-F', 'raw', join(fixtures, 'src.qcow2'), out])).code).toBe(0);
  });

  it('commit keeps the overlay zero clusters as zero clusters, its zero data as data', async () => {
    const dirs = { qemu: await tempDir(), ours: await tempDir() };
    for (const dir of Object.values(dirs)) {
      await qemuImg(['create', '-q', '-f', 'qcow2', join(dir, 'base.qcow2'), '4M']);
      qemuIoFormat(join(dir, 'base.qcow2'), 'qcow2', 'write -P 0x33 0 4M');
      await qemuImg(['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', join(dir, 'top.qcow2')]);
      qemuIoFormat(join(dir, 'top.qcow2'), 'qcow2', 'write -z 0 128k', 'write -P 0 128k 128k', 'write -P 5 256k 64k');
    }
    const [qemu, ours] = await Promise.all([qemuImg(['commit', '-q', 'top.qcow2'], dirs.qemu), tool(configuration, ['commit', '-q', 'top.qcow2'], dirs.ours)]);
    expect([qemu.code, ours.code]).toEqual([0, 0]);
    expect(await allocation(join(dirs.ours, 'base.qcow2'), 'qcow2')).toEqual(await allocation(join(dirs.qemu, 'base.qcow2'), 'qcow2'));
  });
});
