// `convert` to and from qcow2 beside qemu-img: -c (compressed clusters), -B/-F (only what the
// source's own layer holds), -m/-W (parallel and out-of-order writes), -n with --target-is-zero,
// checked with qemu-img check, compare and map.
import { readFile, stat, writeFile } from 'node:fs/promises';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { executable } from '../../../tools/test-support/executables.ts';
import { MiB, both, configurations, qemuImg, random, tempDir, tool, twinDirs, writeImage, type Configuration } from './helpers.ts';

const SIZE = 4 * MiB;
const IDENTICAL = { code: 0, stdout: 'Images are identical.\n' };

/** Text-like bytes that deflate well (but not to nothing), the same on every run. */
function compressible(length: number): Uint8Array {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'qcow2', 'cluster', 'sector', '\n'];
  let seed = 12345;
  let text = '';
  while (text.length < length) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    text += `${words[seed % words.length]} `;
  }
  return new TextEncoder().encode(text.slice(0, length));
}

/** Run the executable to its end; its resident memory at its highest, as /proc showed it every few milliseconds. */
function peakResidentBytes(file: string, args: readonly string[], cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    let peak = 0;
    const sample = setInterval(() => {
      try {
        const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (rss) peak = Math.max(peak, Number(rss[1]) * 1024);
      } catch {
        // gone between two samples
      }
    }, 5);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(sample);
      if (code === 0) resolve(peak);
      else reject(new Error(`exit ${code}: ${stderr}`));
    });
  });
}

function qemuIo(args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('qemu-io', [...args], { cwd }, (error, _stdout, stderr) => (error ? reject(new Error(stderr)) : resolve())),
  );
}

async function qemuOk(args: readonly string[], cwd?: string): Promise<string> {
  const result = await qemuImg(args, cwd);
  if (result.code !== 0) throw new Error(`qemu-img ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** qemu-img map --output=json, parsed; without host offsets when `offsets` is false. */
async function qemuMap(path: string, offsets = true): Promise<Array<Record<string, unknown>>> {
  const entries = JSON.parse(await qemuOk(['map', '--output=json', path])) as Array<Record<string, unknown>>;
  return offsets ? entries : entries.map(({ offset: _offset, ...rest }) => rest);
}

/** qemu-img check --output=json, with its exit code. */
async function qemuCheck(path: string): Promise<{ code: number | null; report: Record<string, unknown> }> {
  const result = await qemuImg(['check', '--output=json', path]);
  return { code: result.code, report: JSON.parse(result.stdout) as Record<string, unknown> };
}

describe.each(configurations)('convert with qcow2 (%s)', (configuration: Configuration) => {
  let fixture: string;

  beforeAll(async () => {
    fixture = await tempDir();
    // mixed.raw: compressible text, random data, zeroes, text again, with the zeroes written.
    const mixed = new Uint8Array(SIZE);
    mixed.set(compressible(MiB), 0);
    mixed.set(random(MiB), MiB);
    mixed.set(compressible(MiB / 2 + 1000), 3 * MiB);
    await writeFile(join(fixture, 'mixed.raw'), mixed);
    // odd.raw: not a whole number of clusters (the last one is stored padded).
    await writeImage(join(fixture, 'odd.raw'), 3 * 65536 + 1536, [[0, compressible(3 * 65536 + 1536)]]);
    // A backing chain: base with data, top over it with new data and a zero cluster over base's data.
    await qemuOk(['create', '-f', 'qcow2', 'base.qcow2', '4M'], fixture);
    await qemuIo(['-c', 'write -P 1 0 1M', '-c', 'write -P 2 2M 1M', 'base.qcow2'], fixture);
    await qemuOk(['create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'], fixture);
    await qemuIo(['-c', 'write -P 3 512k 1M', '-c', 'write -z 2M 64k', 'top.qcow2'], fixture);
    await qemuOk(['convert', '-O', 'raw', 'top.qcow2', 'top.raw'], fixture);
    // small.qcow2: an overlay with 4 KiB clusters, so its allocations cover parts of 64 KiB clusters.
    await qemuOk(['create', '-f', 'qcow2', '-o', 'cluster_size=4096', '-b', 'base.qcow2', '-F', 'qcow2', 'small.qcow2'], fixture);
    await qemuIo(['-c', 'write -P 7 70k 8k', '-c', 'write -P 5 1M 4k', 'small.qcow2'], fixture);
  });

  it.each([[[]], [['-o', 'cluster_size=4096']], [['-o', 'compat=0.10']], [['-o', 'cluster_size=2M']], [['-o', 'extended_l2=on']], [['-o', 'refcount_bits=1']], [['-o', 'refcount_bits=2,lazy_refcounts=on']]])(
    '-c %j: clean, equal to the source, compressed where qemu-img compresses, about its size',
    async (options) => {
      const dirs = await twinDirs(fixture);
      const args = ['convert', '-c', '-O', 'qcow2', ...options, 'mixed.raw', 'out.qcow2'];
      const { qemu, ours } = await both(configuration, args, dirs);
      expect(ours).toEqual(qemu);
      const [theirs, mine] = [join(dirs.qemu, 'out.qcow2'), join(dirs.ours, 'out.qcow2')];
      const check = await qemuCheck(mine);
      expect(check.code).toBe(0);
      expect(await qemuImg(['compare', '-f', 'raw', 'mixed.raw', mine], dirs.ours)).toMatchObject(IDENTICAL);
      // The same clusters compressed, stored plainly (random data) and left out (zeroes).
      const expected = (await qemuCheck(theirs)).report;
      for (const key of ['allocated-clusters', 'compressed-clusters', 'total-clusters']) expect(check.report[key]).toBe(expected[key]);
      expect(await qemuMap(mine, false)).toEqual(await qemuMap(theirs, false));
      // Node's zlib is not byte for byte QEMU's: sizes agree within a few percent.
      const [mineSize, theirSize] = [(await stat(mine)).size, (await stat(theirs)).size];
      expect(Math.abs(mineSize - theirSize)).toBeLessThan(theirSize * 0.05);
      expect(check.report['compressed-clusters']).toBeGreaterThan(0);
    },
  );

  it('-c output reads back here, and qemu-img -c output reads here, as the source', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'mixed.raw'), await readFile(join(fixture, 'mixed.raw')));
    await qemuOk(['convert', '-c', '-O', 'qcow2', 'mixed.raw', 'theirs.qcow2'], dir);
    expect((await tool(configuration, ['convert', '-c', '-O', 'qcow2', 'mixed.raw', 'ours.qcow2'], dir)).code).toBe(0);
    for (const image of ['ours.qcow2', 'theirs.qcow2']) {
      expect(await tool(configuration, ['compare', 'mixed.raw', image], dir)).toEqual({ ...IDENTICAL, stderr: '' });
      expect((await tool(configuration, ['convert', '-O', 'raw', image, `${image}.raw`], dir)).code).toBe(0);
      expect(Buffer.compare(await readFile(join(dir, `${image}.raw`)), await readFile(join(dir, 'mixed.raw')))).toBe(0);
    }
  });

  it.each([[512], [4096]])('-c with %i-byte clusters: reads as the source in both tools, and memory stays bounded', async (clusterSize) => {
    const dir = await tempDir();
    // 8 MiB of text: 16384 clusters of 512 bytes, which a convert hands to the compressor at once.
    const text = compressible(8 * MiB);
    await writeFile(join(dir, 'text.raw'), text);
    const peak = await peakResidentBytes(executable('img-tool', configuration), ['convert', '-c', '-O', 'qcow2', '-o', `cluster_size=${clusterSize}`, 'text.raw', 'ours.qcow2'], dir);
    // Each deflate under way holds zlib's state, each result its output buffer: unbounded, this
    // convert peaked near 3 GiB. The chunks in flight and Node itself take some 100 MiB.
    expect(peak).toBeLessThan(400 * MiB);
    await qemuOk(['convert', '-c', '-O', 'qcow2', '-o', `cluster_size=${clusterSize}`, 'text.raw', 'theirs.qcow2'], dir);
    expect(await qemuImg(['compare', 'text.raw', 'ours.qcow2'], dir)).toEqual({ ...IDENTICAL, stderr: '' });
    expect((await qemuImg(['check', 'ours.qcow2'], dir)).code).toBe(0);
    const info = JSON.parse(await qemuOk(['info', '--output=json', 'ours.qcow2'], dir)) as { 'actual-size': number };
    expect(info['actual-size']).toBeLessThan(text.length / 2); // compressed, not stored plain
    expect((await tool(configuration, ['convert', '-O', 'raw', 'theirs.qcow2', 'back.raw'], dir)).code).toBe(0);
    expect(Buffer.compare(await readFile(join(dir, 'back.raw')), text)).toBe(0);
  });

  it('-c with a size that is not a whole number of clusters: the last cluster padded, as qemu-img', async () => {
    const dirs = await twinDirs(fixture);
    const { qemu, ours } = await both(configuration, ['convert', '-c', '-O', 'qcow2', 'odd.raw', 'out.qcow2'], dirs);
    expect(ours).toEqual(qemu);
    const mine = join(dirs.ours, 'out.qcow2');
    expect((await qemuCheck(mine)).code).toBe(0);
    expect(await qemuImg(['compare', '-f', 'raw', 'odd.raw', mine], dirs.ours)).toMatchObject(IDENTICAL);
    expect(await qemuMap(mine, false)).toEqual(await qemuMap(join(dirs.qemu, 'out.qcow2'), false));
  });

  it.each([['top.qcow2'], ['top.raw']])('-B base -F qcow2 from %s: the same clusters written as qemu-img writes', async (source) => {
    const dirs = await twinDirs(fixture);
    const args = ['convert', '-O', 'qcow2', '-B', 'base.qcow2', '-F', 'qcow2', source, 'out.qcow2'];
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(ours).toEqual(qemu);
    const [theirs, mine] = [join(dirs.qemu, 'out.qcow2'), join(dirs.ours, 'out.qcow2')];
    expect((await qemuCheck(mine)).code).toBe(0);
    expect(await qemuMap(mine)).toEqual(await qemuMap(theirs));
    expect(await qemuImg(['compare', 'top.qcow2', mine], dirs.ours)).toMatchObject(IDENTICAL);
  });

  it('-c -B from an overlay with smaller clusters: whole clusters compressed where qemu-img compresses them', async () => {
    const dirs = await twinDirs(fixture);
    const args = ['convert', '-c', '-O', 'qcow2', '-B', 'base.qcow2', '-F', 'qcow2', 'small.qcow2', 'out.qcow2'];
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(ours).toEqual(qemu);
    const mine = join(dirs.ours, 'out.qcow2');
    expect((await qemuCheck(mine)).code).toBe(0);
    expect(await qemuMap(mine, false)).toEqual(await qemuMap(join(dirs.qemu, 'out.qcow2'), false));
    expect(await qemuImg(['compare', 'small.qcow2', mine], dirs.ours)).toMatchObject(IDENTICAL);
  });

  it.each([[['-m', '1']], [['-m', '16']], [['-W']], [['-W', '-m', '16']], [['-t', 'none']], [['-t', 'writeback', '-m', '2']]])(
    '%j raw -> qcow2: the same image (in order: the same layout as qemu-img)',
    async (options) => {
      const dirs = await twinDirs(fixture);
      const args = ['convert', '-O', 'qcow2', ...options, 'mixed.raw', 'out.qcow2'];
      const { qemu, ours } = await both(configuration, args, dirs);
      expect(ours).toEqual(qemu);
      const [theirs, mine] = [join(dirs.qemu, 'out.qcow2'), join(dirs.ours, 'out.qcow2')];
      expect((await qemuCheck(mine)).code).toBe(0);
      expect(await qemuImg(['compare', '-f', 'raw', 'mixed.raw', mine], dirs.ours)).toMatchObject(IDENTICAL);
      if (!options.includes('-W')) expect(await qemuMap(mine)).toEqual(await qemuMap(theirs));
      else expect(await qemuMap(mine, false)).toEqual(await qemuMap(theirs, false));
    },
  );

  it('qcow2 -> raw: the same bytes and allocation as qemu-img', async () => {
    const dirs = await twinDirs(fixture);
    const { qemu, ours } = await both(configuration, ['convert', '-O', 'raw', 'top.qcow2', 'out.raw'], dirs);
    expect(ours).toEqual(qemu);
    const [theirs, mine] = [join(dirs.qemu, 'out.raw'), join(dirs.ours, 'out.raw')];
    expect(Buffer.compare(await readFile(mine), await readFile(theirs))).toBe(0);
    expect((await stat(mine)).blocks).toBe((await stat(theirs)).blocks);
  });

  it.each([[['-n']], [['-n', '--target-is-zero']]])('%j onto a new qcow2: as qemu-img writes it', async (options) => {
    const dirs = await twinDirs(fixture);
    for (const dir of [dirs.qemu, dirs.ours]) await qemuOk(['create', '-f', 'qcow2', 'out.qcow2', '4M'], dir);
    const { qemu, ours } = await both(configuration, ['convert', ...options, '-O', 'qcow2', 'top.raw', 'out.qcow2'], dirs);
    expect(ours).toEqual(qemu);
    const [theirs, mine] = [join(dirs.qemu, 'out.qcow2'), join(dirs.ours, 'out.qcow2')];
    expect((await qemuCheck(mine)).code).toBe(0);
    expect(await qemuMap(mine)).toEqual(await qemuMap(theirs));
    expect(await qemuImg(['compare', '-f', 'raw', 'top.raw', mine], dirs.ours)).toMatchObject(IDENTICAL);
  });

  it('-n onto a qcow2 full of other data: overwritten, zeroes included', async () => {
    const dirs = await twinDirs(fixture);
    for (const dir of [dirs.qemu, dirs.ours]) {
      await qemuOk(['create', '-f', 'qcow2', 'out.qcow2', '4M'], dir);
      await qemuIo(['-c', 'write -P 9 0 4M', 'out.qcow2'], dir);
    }
    const { qemu, ours } = await both(configuration, ['convert', '-n', '-O', 'qcow2', 'top.raw', 'out.qcow2'], dirs);
    expect(ours).toEqual(qemu);
    const mine = join(dirs.ours, 'out.qcow2');
    expect((await qemuCheck(mine)).code).toBe(0);
    expect(await qemuImg(['compare', '-f', 'raw', 'top.raw', mine], dirs.ours)).toMatchObject(IDENTICAL);
    expect(await qemuMap(mine)).toEqual(await qemuMap(join(dirs.qemu, 'out.qcow2')));
  });

  it.each([
    [['convert', '-O', 'qcow2', '-B', 'base.qcow2', 'top.raw', 'out.qcow2']],
    [['convert', '-c', '-O', 'raw', 'top.raw', 'out.raw']],
    [['convert', '-O', 'qcow2', '-B', 'missing.qcow2', '-F', 'qcow2', 'top.raw', 'out.qcow2']],
    [['convert', '-c', '-n', '-O', 'qcow2', 'top.raw', 'top.qcow2']],
  ])('%j: same messages and exit code as qemu-img', async (args) => {
    const dirs = await twinDirs(fixture);
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(ours).toEqual(qemu);
  });
});
