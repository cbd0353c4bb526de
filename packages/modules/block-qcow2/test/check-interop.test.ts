// `tessera-img check` against `qemu-img check` on the same files: images qemu-img and qemu-io
// made (clean: verdict, statistics, image end offset), and images damaged on purpose (leaks,
// refcounts too low, wrong COPIED flags, entries past the end or unaligned). Output, stderr
// findings, JSON and exit code must be the same; repairs are made on twin copies, and after
// ours qemu-img check must be as clean as after its own.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable, run } from '../../../../tools/test-support/executables.ts';
import { hostCluster, l1Entry, l2Entry, markCorrupt, refcountTableEntry, setRefcount } from './qcow2-edit.ts';

let dir: string;
const sh = (file: string, args: string[], cwd = dir) => execFileSync(file, args, { cwd, encoding: 'utf8' });
const qemuImg = (...args: string[]) => sh('qemu-img', args);
const qemuIo = (image: string, ...commands: string[]) => sh('qemu-io', [...commands.flatMap((c) => ['-c', c]), image]);
const exe = () => executable('img-tool', 'modular');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-check-'));
  writeFileSync(join(dir, 'data.raw'), Buffer.concat([randomBytes(2 * 2 ** 20 + 777), Buffer.alloc(2 * 2 ** 20 - 777)]));
  writeFileSync(join(dir, 'text.raw'), Buffer.from('compressible '.repeat(80_000)));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function qemuCheck(args: readonly string[], cwd = dir): Outcome {
  const result = spawnSync('qemu-img', ['check', ...args], { cwd, encoding: 'utf8' });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr.replace(/^qemu-img:/gm, 'tessera-img:') };
}

async function ourCheck(args: readonly string[], cwd = dir): Promise<Outcome> {
  const result = await run(exe(), ['check', ...args], { cwd });
  return { code: result.code ?? -1, stdout: result.stdout, stderr: result.stderr };
}

async function expectSameCheck(image: string, extra: readonly string[] = []): Promise<number> {
  for (const output of ['human', 'json']) {
    const args = [...extra, `--output=${output}`, image];
    expect({ args, ...(await ourCheck(args)) }).toEqual({ args, ...qemuCheck(args) });
  }
  return qemuCheck([image]).code;
}

const converted = (options: string, compress = false) => (image: string) => {
  qemuImg('convert', ...(compress ? ['-c'] : []), '-O', 'qcow2', '-o', options, 'data.raw', image);
  qemuIo(image, 'write -P 0x5a 100k 3k', 'write -z 1M 200k');
};

const clean: [string, (image: string) => void][] = [
  ...[512, 4096, 65536, 2 * 2 ** 20].map((size): [string, (image: string) => void] => [`cluster_size=${size}`, converted(`cluster_size=${size}`)]),
  ...[1, 2, 4, 8, 32, 64].map((bits): [string, (image: string) => void] => [`refcount_bits=${bits}`, converted(`refcount_bits=${bits},cluster_size=4k`)]),
  ['compat=0.10', converted('compat=0.10')],
  ['compressed', converted('cluster_size=4k', true)],
  ['lazy refcounts', converted('lazy_refcounts=on')],
  ['extended L2 with subcluster writes', (image) => {
    qemuImg('convert', '-O', 'qcow2', '-o', 'extended_l2=on,cluster_size=128k', 'data.raw', image);
    qemuIo(image, 'write -P 0x11 4k 2k', 'write -z 200k 8k', 'write -P 0x22 3000k 4k');
  }],
  ['internal snapshots', (image) => {
    qemuImg('convert', '-O', 'qcow2', '-o', 'cluster_size=4k', 'data.raw', image);
    qemuImg('snapshot', '-c', 'one', image);
    qemuIo(image, 'write -P 0x42 0 64k', 'write -z 2M 64k');
    qemuImg('snapshot', '-c', 'two', image);
    qemuIo(image, 'write -P 0x43 32k 64k');
  }],
  ['persistent bitmaps', (image) => {
    qemuImg('convert', '-O', 'qcow2', 'data.raw', image);
    qemuImg('bitmap', '--add', image, 'b0');
    qemuImg('bitmap', '--add', '-g', '512k', image, 'b1');
    qemuIo(image, 'write -P 0x7 0 64k');
  }],
  ['an empty image', (image) => qemuImg('create', '-q', '-f', 'qcow2', image, '1G')],
];

describe('check of images qemu-img made', () => {
  it.each(clean)('%s: the same verdict and statistics as qemu-img', async (name, make) => {
    const image = `clean-${name.replace(/\W+/g, '-')}.qcow2`;
    make(image);
    expect(await expectSameCheck(image)).toBe(0);
    expect(await expectSameCheck(image, ['-q'])).toBe(0);
  });

  it('a raw image has no check (exit 63), as in qemu-img', async () => {
    writeFileSync(join(dir, 'plain.raw'), Buffer.alloc(65536));
    expect(await expectSameCheck('plain.raw', ['-f', 'raw'])).toBe(63);
  });
});

interface Damage {
  readonly name: string;
  readonly options?: string;
  /** Made with `convert -c` (of compressible data). */
  readonly compressed?: boolean;
  /** An internal snapshot taken, then the first two guest clusters rewritten (the rest shared). */
  readonly snapshot?: boolean;
  /** Edits the file; returns nothing. */
  damage(image: string): void;
  /** The corrupt bit set too: a repair opens it all the same, and clears the bit once it is consistent. */
  readonly markedCorrupt?: boolean;
}

const COPIED = 1n << 63n;

/** Two more clusters at the end of the file, the last one counted though nothing uses it. */
function leakAtEnd(image: string): void {
  const size = statSync(image).size;
  truncateSync(image, size + 2 * 4096);
  setRefcount(image, Math.ceil(size / 4096) + 1, 1);
}
const damages: Damage[] = [
  { name: 'a data cluster counted twice (leak)', damage: (image) => setRefcount(image, hostCluster(image, 3), 2) },
  { name: 'a leaked free cluster', damage: leakAtEnd },
  { name: 'a leak with 1-bit refcounts', options: 'refcount_bits=1', damage: leakAtEnd },
  { name: 'a leak with 64-bit refcounts', options: 'refcount_bits=64', damage: (image) => setRefcount(image, hostCluster(image, 2), 3) },
  // Repaired by a rebuild of the refcount structure, in both tools, to the same layout.
  { name: 'a referenced cluster with refcount 0', damage: (image) => setRefcount(image, hostCluster(image, 4), 0) },
  { name: 'refcount 0 with 1-bit refcounts', options: 'refcount_bits=1', damage: (image) => setRefcount(image, hostCluster(image, 4), 0) },
  { name: 'refcount 0 with 64-bit refcounts', options: 'refcount_bits=64', damage: (image) => setRefcount(image, hostCluster(image, 4), 0) },
  { name: 'refcount 0 on a cluster a snapshot shares', snapshot: true, damage: (image) => setRefcount(image, hostCluster(image, 5), 0) },
  { name: 'the COPIED flag missing on a data cluster', damage: (image) => void l2Entry(image, 2, l2Entry(image, 2) & ~COPIED) },
  { name: 'the COPIED flag missing on an L2 table', damage: (image) => void l1Entry(image, 0, l1Entry(image, 0) & ~COPIED) },
  { name: 'an L2 entry far past the end of the file', damage: (image) => void l2Entry(image, 1, COPIED | 0x40000000n) },
  { name: 'an unaligned data cluster', damage: (image) => void l2Entry(image, 1, l2Entry(image, 1) + 0x200n) },
  { name: 'two entries for one cluster', damage: (image) => void l2Entry(image, 1, l2Entry(image, 0)) },
  { name: 'an L1 entry with reserved bits', damage: (image) => void l1Entry(image, 0, l1Entry(image, 0) | 0x100n) },
  { name: 'an L1 entry past the end of the file', damage: (image) => void l1Entry(image, 0, COPIED | 0x40000000n) },
  { name: 'an unaligned preallocated zero cluster', damage: (image) => void l2Entry(image, 1, (l2Entry(image, 1) + 0x200n) | 1n) },
  { name: 'an allocated and zero subcluster', options: 'cluster_size=64k,extended_l2=on', damage: (image) => void l2Entry(image, 1, 0x0000000100000001n, 1) },
  { name: 'a shared cluster counted once', snapshot: true, damage: (image) => setRefcount(image, hostCluster(image, 5), 1) },
  { name: 'a shared cluster counted three times', snapshot: true, damage: (image) => setRefcount(image, hostCluster(image, 5), 3) },
  { name: 'a COPIED flag set on a shared cluster', snapshot: true, damage: (image) => void l2Entry(image, 5, l2Entry(image, 5) | COPIED) },
  { name: 'a COPIED flag set on a compressed cluster', compressed: true, damage: (image) => void l2Entry(image, 1, l2Entry(image, 1) | COPIED) },
  { name: 'a leak in a v2 image', options: 'compat=0.10', damage: (image) => setRefcount(image, hostCluster(image, 3), 2) },
  { name: 'a leak in an image marked corrupt', markedCorrupt: true, damage: (image) => setRefcount(image, hostCluster(image, 3), 2) },
  { name: 'a missing COPIED flag in an image marked corrupt', markedCorrupt: true, damage: (image) => void l2Entry(image, 2, l2Entry(image, 2) & ~COPIED) },
];

/** The image's corrupt bit, as qemu-img info reports it. */
function markedCorrupt(image: string, cwd: string): boolean {
  const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', image], { cwd, encoding: 'utf8' })) as { 'format-specific': { data: { corrupt?: boolean } } };
  return info['format-specific'].data.corrupt === true;
}

describe('check of images damaged on purpose', () => {
  it.each(damages)('$name: the same findings, verdict and exit code; repairs leave what qemu-img leaves', async ({ name, options, compressed, snapshot, damage, markedCorrupt: corrupt }) => {
    const base = `damaged-${name.replace(/\W+/g, '-')}`;
    const image = `${base}.qcow2`;
    qemuImg('convert', ...(compressed ? ['-c'] : []), '-O', 'qcow2', '-o', options?.includes('cluster_size') ? options : `cluster_size=4k${options ? `,${options}` : ''}`, compressed ? 'text.raw' : 'data.raw', image);
    if (snapshot) {
      qemuImg('snapshot', '-c', 'one', image);
      qemuIo(image, 'write -P 0x1 0 8k');
    }
    damage(join(dir, image));
    if (corrupt) markCorrupt(join(dir, image));
    const verdict = await expectSameCheck(image);
    expect(verdict).not.toBe(0);

    for (const mode of ['leaks', 'all']) {
      const twins = { qemu: join(dir, `${base}-${mode}-qemu`), ours: join(dir, `${base}-${mode}-ours`) };
      for (const twin of Object.values(twins)) {
        mkdirSync(twin);
        copyFileSync(join(dir, image), join(twin, image));
      }
      const theirs = qemuCheck(['-r', mode, image], twins.qemu);
      const ours = await ourCheck(['-r', mode, image], twins.ours);
      expect({ mode, ...ours }).toEqual({ mode, ...theirs });
      const after = { qemu: qemuCheck([image], twins.qemu), ours: qemuCheck([image], twins.ours) };
      expect(after.ours).toEqual(after.qemu);
      expect(markedCorrupt(image, twins.ours)).toBe(markedCorrupt(image, twins.qemu));
    }
  });
});

/** qemu's block layer reports corruption events on stderr ("qcow2: Marking image as corrupt: …"); ours has none. */
const withoutEvents = (outcome: Outcome): Outcome => ({ ...outcome, stderr: outcome.stderr.replace(/^qcow2: .*\n/gm, '') });

/** The twin copies of `image` for each tool, in directories of their own (same file name, same output). */
function twinsOf(image: string): { qemu: string; ours: string } {
  const twins = { qemu: join(dir, `${image}-qemu`), ours: join(dir, `${image}-ours`) };
  for (const twin of Object.values(twins)) {
    mkdirSync(twin);
    copyFileSync(join(dir, image), join(twin, image));
  }
  return twins;
}

/** A 4 KiB-cluster copy of data.raw with its refcount structure damaged. */
function withBrokenStructure(name: string, damage: (image: string) => void, test: string): string {
  const image = `refcount-structure-${test}-${name.replace(/\W+/g, '-')}.qcow2`;
  qemuImg('convert', '-O', 'qcow2', '-o', 'cluster_size=4k', 'data.raw', image);
  damage(join(dir, image));
  return image;
}

// A refcount block past the end of the file (-r all grows the file to hold it, which then reads as
// zeroes), and one that takes the place of an L2 table: qemu-img rebuilds the refcount structure.
const rebuiltStructures: { name: string; damage(image: string): void }[] = [
  { name: 'a refcount block past the end of the file', damage: (image) => void refcountTableEntry(image, 0, BigInt(statSync(image).size + 64 * 4096)) },
  { name: 'a refcount block shared with an L2 table', damage: (image) => void refcountTableEntry(image, 0, BigInt(Number(l1Entry(image, 0) & 0xfffffffffe00n))) },
  { name: 'a refcount block shared with the L1 table', damage: (image) => void refcountTableEntry(image, 0, BigInt(Number(l1Entry(image, 0) & 0xfffffffffe00n) - 4096)) },
];

// Entries no refcount block can be read through. qemu-img 7.2 sets out to rebuild here too, but its
// own corruption guard (the image marked corrupt when the entry is met, or the write of a new block
// refused as overlapping the old one) makes its repair fail; ours completes it.
const unreadableStructures: { name: string; damage(image: string): void }[] = [
  { name: 'an unaligned refcount block', damage: (image) => void refcountTableEntry(image, 0, refcountTableEntry(image, 0) + 0x200n) },
  { name: 'a refcount table entry with reserved bits', damage: (image) => void refcountTableEntry(image, 0, refcountTableEntry(image, 0) | 0x100n) },
];

/** qemu-img compare of the repaired image with the data it was made from: the guest bytes are intact. */
const sameGuestBytes = (image: string, cwd: string) => spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', join(dir, 'data.raw'), image], { cwd, encoding: 'utf8' }).status;

describe('check of a broken refcount structure', () => {
  it.each([...rebuiltStructures, ...unreadableStructures])('$name: the same findings as qemu-img; -r leaks fails as in qemu-img, writing nothing', async ({ name, damage }) => {
    const image = withBrokenStructure(name, damage, 'findings');
    for (const output of ['human', 'json']) {
      const args = [`--output=${output}`, image];
      expect({ args, ...(await ourCheck(args)) }).toEqual({ args, ...withoutEvents(qemuCheck(args)) });
    }
    const twins = twinsOf(image);
    const before = readFileSync(join(twins.ours, image));
    expect(await ourCheck(['-r', 'leaks', image], twins.ours)).toEqual(withoutEvents(qemuCheck(['-r', 'leaks', image], twins.qemu)));
    expect(Buffer.compare(readFileSync(join(twins.ours, image)), before)).toBe(0);
  });

  it.each(rebuiltStructures)('$name: -r all rebuilds the structure as qemu-img does, to the same layout', async ({ name, damage }) => {
    const image = withBrokenStructure(name, damage, 'rebuilt');
    const twins = twinsOf(image);
    const ours = await ourCheck(['-r', 'all', image], twins.ours);
    expect(ours).toEqual(withoutEvents(qemuCheck(['-r', 'all', image], twins.qemu)));
    expect(ours.stderr).toContain('Rebuilding refcount structure\n');
    expect(ours.code).toBe(0);
    for (const output of ['human', 'json']) expect(qemuCheck([`--output=${output}`, image], twins.ours)).toEqual(qemuCheck([`--output=${output}`, image], twins.qemu));
    expect(sameGuestBytes(image, twins.ours)).toBe(0);
  });

  it('a rebuild whose refcount table takes several clusters (512-byte clusters) has the layout qemu-img gives it', async () => {
    writeFileSync(join(dir, 'large.raw'), randomBytes(12 * 2 ** 20));
    const image = 'refcount-structure-several-table-clusters.qcow2';
    qemuImg('convert', '-O', 'qcow2', '-o', 'cluster_size=512', 'large.raw', image);
    setRefcount(join(dir, image), hostCluster(join(dir, image), 4), 0);
    const twins = twinsOf(image);
    const ours = await ourCheck(['-r', 'all', image], twins.ours);
    expect(ours).toEqual(qemuCheck(['-r', 'all', image], twins.qemu));
    expect(ours.code).toBe(0);
    const tableClusters = (path: string) => readFileSync(path).readUInt32BE(56);
    expect(tableClusters(join(twins.ours, image))).toBeGreaterThan(1);
    expect(readFileSync(join(twins.ours, image)).subarray(0, 104)).toEqual(readFileSync(join(twins.qemu, image)).subarray(0, 104));
    expect(qemuCheck(['--output=json', image], twins.ours)).toEqual(qemuCheck(['--output=json', image], twins.qemu));
  });

  it.each(unreadableStructures)('$name: -r all rebuilds the structure; qemu-img then finds the image clean, the guest bytes intact', async ({ name, damage }) => {
    const image = withBrokenStructure(name, damage, 'unreadable');
    const ours = await ourCheck(['-r', 'all', image]);
    expect(ours.stderr).toContain('Rebuilding refcount structure\n');
    expect(ours.stdout).toContain('Double checking the fixed image now...\nNo errors were found on the image.\n');
    expect(ours.code).toBe(0);
    const after = qemuCheck([image]);
    expect(after.code, after.stdout + after.stderr).toBe(0);
    expect(after.stderr).toBe('');
    expect(sameGuestBytes(image, dir)).toBe(0);
  });
});
