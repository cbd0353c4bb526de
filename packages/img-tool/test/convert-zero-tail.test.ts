// convert of images that end in zeroes: the zero-tail scout reads the end of the source while the
// workers write the start, and the chunks it finds are skipped. The outputs must be what qemu-img
// writes (same bytes for raw and qcow2, same map and content with -c), whether the tail is written
// zeroes or a hole, ends in a short chunk, or has data in its last sector (the scout gives up).
import { readFile } from 'node:fs/promises';
import { executable, run } from '../../../tools/test-support/executables.ts';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MiB, both, configurations, qemuImg, random, tempDir, twinDirs, writeImage, type Configuration } from './helpers.ts';

// Large enough for the scout (at least 16 chunks of 2 MiB), with a last chunk that is short.
const SIZE = 72 * MiB + 1536;

async function qemuMap(path: string): Promise<unknown> {
  const result = await qemuImg(['map', '--output=json', path]);
  if (result.code !== 0) throw new Error(`qemu-img map ${path}: ${result.stderr}`);
  return (JSON.parse(result.stdout) as Array<Record<string, unknown>>).map(({ offset: _offset, ...rest }) => rest);
}

describe.each(configurations)('convert of an image ending in zeroes (%s)', (configuration: Configuration) => {
  let fixture: string;

  beforeAll(async () => {
    fixture = await tempDir();
    const zeroes = new Uint8Array(8 * MiB);
    // tail.raw: data at the start, a data chunk amid zeroes (written zeroes in part, a hole for
    // the rest), and a lone data sector near the end: the scout reaches it long before the
    // workers do, and must stop there.
    await writeImage(join(fixture, 'tail.raw'), SIZE, [
      [0, random(5 * MiB + 4096)],
      [20 * MiB, random(2 * MiB)],
      [40 * MiB, zeroes],
      [56 * MiB, zeroes],
      [64 * MiB, zeroes.subarray(0, SIZE - 64 * MiB)],
      [67 * MiB + 512, random(512)],
    ]);
    // last-sector.raw: zeroes up to one data sector at the very end (the scout's first chunk has data).
    await writeImage(join(fixture, 'last-sector.raw'), SIZE, [
      [0, random(MiB)],
      [8 * MiB, zeroes],
      [SIZE - 512, random(512)],
    ]);
    // zero-run-at-end.raw: a chunk ending in a short zero run just before a zero tail.
    await writeImage(join(fixture, 'zero-run-at-end.raw'), SIZE, [
      [0, random(30 * MiB - 1024)],
      [30 * MiB - 1024, new Uint8Array(1024)],
    ]);
  });

  it.each([
    ['tail.raw', ['-O', 'qcow2']],
    ['tail.raw', ['-O', 'raw']],
    ['tail.raw', ['-O', 'qcow2', '-o', 'cluster_size=2M']],
    ['tail.raw', ['-O', 'qcow2', '-S', '64k']],
    ['tail.raw', ['-O', 'qcow2', '-m', '1']],
    ['tail.raw', ['-O', 'qcow2', '-W']],
    ['last-sector.raw', ['-O', 'qcow2']],
    ['zero-run-at-end.raw', ['-O', 'qcow2']],
    ['zero-run-at-end.raw', ['-O', 'raw']],
  ])('%s %j: the same output file as qemu-img', async (source, options) => {
    const dirs = await twinDirs(fixture);
    const out = options.includes('raw') ? 'out.raw' : 'out.qcow2';
    const { qemu, ours } = await both(configuration, ['convert', ...options, source, out], dirs);
    expect(ours).toEqual(qemu);
    expect(ours.code).toBe(0);
    const [theirs, mine] = [join(dirs.qemu, out), join(dirs.ours, out)];
    if (options.includes('-W')) {
      // Out of order, clusters land on the host in completion order (qemu-img's too), and map
      // merges entries by host contiguity: only content and a clean check are comparable.
      expect((await qemuImg(['check', mine])).code).toBe(0);
    } else {
      expect(await qemuMap(mine)).toEqual(await qemuMap(theirs));
      expect(Buffer.compare(await readFile(mine), await readFile(theirs))).toBe(0);
    }
    expect((await qemuImg(['compare', '-f', 'raw', join(fixture, source), mine])).code).toBe(0);
  });

  it('-c: compressed, equal to the source, with the same map as qemu-img', async () => {
    const dirs = await twinDirs(fixture);
    const args = ['convert', '-c', '-O', 'qcow2', 'tail.raw', 'out.qcow2'];
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(ours).toEqual(qemu);
    const [theirs, mine] = [join(dirs.qemu, 'out.qcow2'), join(dirs.ours, 'out.qcow2')];
    expect(await qemuMap(mine)).toEqual(await qemuMap(theirs));
    expect((await qemuImg(['compare', '-f', 'raw', join(fixture, 'tail.raw'), mine])).code).toBe(0);
    expect((await qemuImg(['check', mine])).code).toBe(0);
  });

  it('the scout reads the tail early; not with -m 1 (one request at a time) or -r (a rate limit)', async () => {
    // A read's completion: pread64 through the thread pool, or preadv2 served whole from the page
    // cache (block-file's readCached; strace -s 0 prints its buffers as [...]).
    const readOf = (length: number, offset: number) => (line: string) =>
      line.includes(`, ${length}, ${offset}) = `) || line.endsWith(`], 1, ${offset}, RWF_NOWAIT) = ${length}`);
    const lastChunk = readOf(SIZE % (2 * MiB), SIZE - (SIZE % (2 * MiB)));
    const chunk20 = readOf(2 * MiB, 20 * 2 * MiB);
    for (const [options, early] of [[[], true], [['-m', '1'], false], [['-r', '1G'], false]] as const) {
      const dir = await twinDirs(fixture);
      const trace = join(dir.ours, 'trace');
      const wrapper = ['strace', '-f', '-qq', '-e', 'trace=pread64,preadv2', '-e', 'read=none', '-s', '0', '-o', trace];
      const result = await run(executable('img-tool', configuration), ['convert', ...options, '-O', 'qcow2', 'tail.raw', 'out.qcow2'], { cwd: dir.ours, wrapper });
      expect(result.code).toBe(0);
      // Completion order (strace writes a resumed call when it returns).
      const lines = (await readFile(trace, 'utf8')).split('\n');
      const last = lines.findIndex(lastChunk);
      const twentieth = lines.findIndex(chunk20);
      expect({ options, found: last >= 0 && twentieth >= 0 }).toEqual({ options, found: true });
      expect({ options, tailFirst: last < twentieth }).toEqual({ options, tailFirst: early });
    }
  });

  it('-n onto a target that is not zero: the zero tail is written (no scout), as qemu-img does', async () => {
    const dirs = await twinDirs(fixture);
    for (const dir of [dirs.qemu, dirs.ours]) {
      await writeImage(join(dir, 'noise.raw'), SIZE, [[SIZE - 4 * MiB, random(4 * MiB)]]);
    }
    const { qemu, ours } = await both(configuration, ['convert', '-n', 'tail.raw', 'noise.raw'], dirs);
    expect(ours).toEqual(qemu);
    expect((await qemuImg(['compare', '-f', 'raw', '-F', 'raw', join(fixture, 'tail.raw'), join(dirs.ours, 'noise.raw')])).code).toBe(0);
  });
});
