// Persistent dirty bitmaps against qemu-img and qemu-io: the same `bitmap` operations applied by
// both tools to twin images give the same `info` (human and JSON, bar the file's size) and a clean
// `qemu-img check`; qemu-io then writes through our bitmaps as through its own (it sets their bits
// and stores them), and `map` over qemu-nbd's export of the bitmap (-B) reads the same dirty
// ranges; the directory checks and their messages are qemu-img's. (The other commands that change
// an image with bitmaps: bitmap-operations.test.ts.)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable, run } from '../../../../tools/test-support/executables.ts';
import { fragmentedRaw } from '../../../../tools/test-support/fragmented-raw.ts';
import { stopDaemon } from './helpers/dirty-ranges.ts';

let dir: string;
const qemu = (tool: string, ...args: string[]) => execFileSync(tool, args, { cwd: dir, encoding: 'utf8' });
const qemuImg = (...args: string[]) => qemu('qemu-img', ...args);
const qemuFails = (...args: string[]) => spawnSync('qemu-img', args, { cwd: dir, encoding: 'utf8' }).stderr.replace(/^qemu-img: /gm, '');
/** `info --output=json` without what legitimately differs between twin files. */
const infoOf = (image: string) => {
  const info = JSON.parse(qemuImg('info', '--output=json', image));
  delete info['actual-size'];
  delete info.filename;
  return info;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-bitmap-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Each step as qemu-img's arguments after `bitmap`, the image standing where `IMG` is.
const STEPS = [
  ['--add', 'IMG', 'b0'],
  ['--add', '-g', '128k', '--disable', 'IMG', 'b1'],
  ['--add', '-g', '512', 'IMG', 'small-granularity'],
  ['--disable', 'IMG', 'b0'],
  ['--enable', 'IMG', 'b1'],
  ['--add', '--remove', 'IMG', 'transient'],
  ['--clear', 'IMG', 'b1'],
  ['--remove', 'IMG', 'small-granularity'],
];

/**
 * A bitmap's dirty ranges as qemu-nbd exports them (-B) and qemu-img's map reads them through the
 * `qemu:dirty-bitmap` metadata context (a dirty range reads as not-present data).
 */
function dirtyRanges(image: string, bitmap: string, tag: string): string {
  const socket = join(dir, `nbd-${tag}.sock`);
  const pidFile = join(dir, `nbd-${tag}.pid`);
  const server = spawnSync('qemu-nbd', ['--fork', '-r', '-f', 'qcow2', '-B', bitmap, '-k', socket, '--persistent', '--pid-file', pidFile, image], { cwd: dir, encoding: 'utf8' });
  expect(server.status, server.stderr).toBe(0);
  try {
    return qemuImg('map', '--output=json', '--image-opts', `driver=nbd,server.type=unix,server.path=${socket},export=,x-dirty-bitmap=qemu:dirty-bitmap:${bitmap}`);
  } finally {
    stopDaemon(pidFile);
  }
}

describe.each(configurations)('%s', (configuration) => {
  const img = (...args: string[]) => run(executable('img-tool', configuration), args, { cwd: dir });
  const ours = `ours-${configuration}.qcow2`;
  const theirs = `qemu-${configuration}.qcow2`;

  it('each bitmap operation gives qemu-img\'s info and a clean check; qemu-io keeps our bitmaps as its own', async () => {
    for (const image of [ours, theirs]) qemuImg('create', '-q', '-f', 'qcow2', image, '64M');
    for (const step of STEPS) {
      const result = await img('bitmap', ...step.map((a) => (a === 'IMG' ? ours : a)));
      expect(result.code, `${step.join(' ')}: ${result.stderr}`).toBe(0);
      qemuImg('bitmap', ...step.map((a) => (a === 'IMG' ? theirs : a)));
      expect(infoOf(ours), step.join(' ')).toEqual(infoOf(theirs));
      expect(qemuImg('check', ours)).toContain('No errors were found on the image.');
    }
    expect((await img('info', ours)).stdout.replace(ours, 'X')).toBe(qemuImg('info', theirs).replace(theirs, 'X').replace(/disk size: .*\n/, (await img('info', ours)).stdout.match(/disk size: .*\n/)![0]));
    // qemu-io writes through the enabled bitmap b1 of each and stores it on close.
    for (const image of [ours, theirs]) qemu('qemu-io', '-c', 'write -P 0x11 1M 192k', '-c', 'write -z 40M 64k', image);
    expect(infoOf(ours)).toEqual(infoOf(theirs));
    expect(qemuImg('check', ours)).toContain('No errors were found on the image.');
    // measure counts the bitmaps' space as qemu-img does (in the target's clusters).
    for (const options of [[], ['-o', 'cluster_size=4k']]) {
      expect((await img('measure', '-O', 'qcow2', ...options, ours)).stdout).toBe(qemuImg('measure', '-O', 'qcow2', ...options, theirs));
    }
    // The bitmap's contents, as qemu-nbd exports them.
    const ourDirty = dirtyRanges(ours, 'b1', configuration);
    expect(ourDirty).toBe(dirtyRanges(theirs, 'b1', configuration));
    // b1's granularity is 128 KiB: the written 192 KiB dirty two granules, the zeroed 64 KiB one.
    expect(ourDirty).toContain('{ "start": 1048576, "length": 262144, "depth": 0, "present": false, "zero": false, "data": false}');
    expect(ourDirty).toContain('{ "start": 41943040, "length": 131072, "depth": 0, "present": false, "zero": false, "data": false}');
  });

  it('guest writes through our block layer set an enabled bitmap\'s bits as qemu-img\'s do, and leave a disabled one alone', async () => {
    const source = `fragments-${configuration}.raw`;
    fragmentedRaw(join(dir, source), 8 * 2 ** 20, 7);
    for (const image of [`w-ours-${configuration}.qcow2`, `w-qemu-${configuration}.qcow2`]) {
      qemuImg('create', '-q', '-f', 'qcow2', image, '16M');
      qemuImg('bitmap', '--add', '-g', '256k', image, 'on');
      qemuImg('bitmap', '--add', '--disable', image, 'off');
    }
    // convert -n writes into the existing image (data, and zeroes where the source has none).
    const written = await img('convert', '-n', '-f', 'raw', '-O', 'qcow2', source, `w-ours-${configuration}.qcow2`);
    expect(written.code, written.stderr).toBe(0);
    qemuImg('convert', '-n', '-f', 'raw', '-O', 'qcow2', source, `w-qemu-${configuration}.qcow2`);
    expect(infoOf(`w-ours-${configuration}.qcow2`)).toEqual(infoOf(`w-qemu-${configuration}.qcow2`)); // in-use cleared at close
    expect(qemuImg('check', `w-ours-${configuration}.qcow2`)).toContain('No errors were found on the image.');
    const on = dirtyRanges(`w-ours-${configuration}.qcow2`, 'on', configuration);
    expect(on).toBe(dirtyRanges(`w-qemu-${configuration}.qcow2`, 'on', configuration));
    expect(on).toContain('"present": false');
    expect(dirtyRanges(`w-ours-${configuration}.qcow2`, 'off', configuration)).not.toContain('"present": false');
    // A second session adds to the stored bits (read back at open, stored again at close).
    const bench = ['bench', '-w', '-q', '-c', '1', '-o', '12582912', '-s', '65536', '-f', 'qcow2'];
    const again = await img(...bench, `w-ours-${configuration}.qcow2`);
    expect(again.code, again.stderr).toBe(0);
    qemuImg(...bench, `w-qemu-${configuration}.qcow2`);
    expect(dirtyRanges(`w-ours-${configuration}.qcow2`, 'on', configuration)).toBe(dirtyRanges(`w-qemu-${configuration}.qcow2`, 'on', configuration));
    expect(qemuImg('check', `w-ours-${configuration}.qcow2`)).toContain('No errors were found on the image.');
    // --merge, from the image itself and from another image (-b -F), into a new bitmap of each twin.
    for (const [image, other] of [[`w-ours-${configuration}.qcow2`, `w-qemu-${configuration}.qcow2`], [`w-qemu-${configuration}.qcow2`, `w-ours-${configuration}.qcow2`]] as const) {
      // (`on` has 256 KiB granules, `merged` 64 KiB: each dirty granule sets four.)
      const steps = [['--add', '-g', '64k', '--merge', 'off', image, 'merged'], ['--merge', 'on', '-b', other, '-F', 'qcow2', image, 'merged']];
      for (const step of steps) {
        if (image.startsWith('w-ours')) expect((await img('bitmap', ...step)).code).toBe(0);
        else qemuImg('bitmap', ...step);
      }
    }
    expect(dirtyRanges(`w-ours-${configuration}.qcow2`, 'merged', configuration)).toBe(dirtyRanges(`w-qemu-${configuration}.qcow2`, 'merged', configuration));
  });

  it('convert --bitmaps copies the bitmaps and their bits as qemu-img does; inconsistent ones refused or skipped in its words', async () => {
    const source = `w-qemu-${configuration}.qcow2`; // made by the test above: bitmaps `on` (dirty) and `off`
    const copies = [`c-ours-${configuration}.qcow2`, `c-qemu-${configuration}.qcow2`];
    const made = await img('convert', '--bitmaps', '-O', 'qcow2', source, copies[0]!);
    expect(made.code, made.stderr).toBe(0);
    qemuImg('convert', '--bitmaps', '-O', 'qcow2', source, copies[1]!);
    expect(infoOf(copies[0]!)).toEqual(infoOf(copies[1]!));
    expect(qemuImg('check', copies[0]!)).toContain('No errors were found on the image.');
    expect(dirtyRanges(copies[0]!, 'on', configuration)).toBe(dirtyRanges(copies[1]!, 'on', configuration));
    // A bitmap left in use (a writer that did not close) is inconsistent.
    const broken = `broken-${configuration}.qcow2`;
    const bytes = readFileSync(join(dir, source));
    const ext = bytes.indexOf(Buffer.from([0x23, 0x85, 0x28, 0x75]), 112);
    const entry = Number(bytes.readBigUInt64BE(ext + 24));
    bytes.writeUInt32BE(bytes.readUInt32BE(entry + 12) | 1, entry + 12);
    writeFileSync(join(dir, broken), bytes);
    for (const extra of [[], ['--skip-broken-bitmaps']]) {
      const out = `b-ours-${configuration}-${extra.length}.qcow2`;
      const ours = await img('convert', '--bitmaps', ...extra, '-O', 'qcow2', broken, out);
      const theirs = spawnSync('qemu-img', ['convert', '--bitmaps', ...extra, '-O', 'qcow2', broken, `b-qemu-${configuration}-${extra.length}.qcow2`], { cwd: dir, encoding: 'utf8' });
      expect(ours.code).toBe(theirs.status);
      expect(ours.stderr.replace(/tessera-img/g, 'qemu-img')).toBe(theirs.stderr);
      if (extra.length) expect(infoOf(out)).toEqual(infoOf(`b-qemu-${configuration}-${extra.length}.qcow2`));
    }
    for (const [args, message] of [
      [['-O', 'raw', source, 'x.raw'], "Format driver 'raw' does not support bitmaps"],
      [['-f', 'raw', '-O', 'qcow2', `fragments-${configuration}.raw`, 'x.qcow2'], 'Source lacks bitmap support'],
    ] as const) {
      const refused = await img('convert', '--bitmaps', ...args);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe(`tessera-img: ${message}\n`);
    }
  });

  it('refusals in qemu-img\'s words; the image is left as it was', async () => {
    const image = `refusals-${configuration}.qcow2`;
    qemuImg('create', '-q', '-f', 'qcow2', image, '8M');
    qemuImg('bitmap', '--add', image, 'b0');
    const before = readFileSync(join(dir, image));
    writeFileSync(join(dir, `copy-${image}`), before);
    const cases: string[][] = [
      ['--add', image, 'b0'],
      ['--remove', image, 'nope'],
      ['--enable', image, 'nope'],
      [image, 'b0'],
      ['-g', '64k', '--remove', image, 'b0'],
      ['--add', '-g', '1000', image, 'x'],
      ['--add', image],
    ];
    for (const args of cases) {
      const result = await img('bitmap', ...args);
      expect(result.code, args.join(' ')).toBe(1);
      expect(readFileSync(join(dir, image)).equals(before), args.join(' ')).toBe(true);
      // (qemu-img, failing, may still rewrite the file: its bitmaps are stored again at close.)
      expect(result.stderr.split('\n')[0]!.replace(/^tessera-img: /, '')).toBe(qemuFails('bitmap', ...args.map((a) => (a === image ? `copy-${image}` : a))).split('\n')[0]!.replace(`copy-${image}`, image));
    }
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'compat=0.10', `v2-${configuration}.qcow2`, '1M');
    const v2 = await img('bitmap', '--add', `v2-${configuration}.qcow2`, 'x');
    expect(v2.stderr).toContain('Cannot store dirty bitmaps in qcow2 v2 files');
  });
});

describe('broken bitmap directories: qemu-img\'s verdicts', () => {
  const exe = () => executable('img-tool', 'modular');
  it.each([
    ['granularity bits 40', (b: Buffer, ext: number, dir: number) => void (b[dir + 17] = 40)],
    ['count larger than the directory', (b: Buffer, ext: number) => b.writeUInt32BE(3, ext + 8)],
    ['count smaller than the directory', (b: Buffer, ext: number) => b.writeUInt32BE(1, ext + 8)],
    ['directory offset unaligned', (b: Buffer, ext: number, dir: number) => b.writeBigUInt64BE(BigInt(dir + 8), ext + 24)],
    ['directory size cuts an entry', (b: Buffer, ext: number) => b.writeBigUInt64BE(8n, ext + 16)],
    ['reserved field set', (b: Buffer, ext: number) => b.writeUInt32BE(1, ext + 12)],
    ['zero bitmaps', (b: Buffer, ext: number) => b.writeUInt32BE(0, ext + 8)],
  ])('%s: info and check fail as qemu-img\'s', async (name, mutate) => {
    const image = `broken-${name.replace(/ /g, '-')}.qcow2`;
    qemuImg('create', '-q', '-f', 'qcow2', image, '8M');
    qemuImg('bitmap', '--add', image, 'b0');
    qemuImg('bitmap', '--add', image, 'b1');
    const bytes = readFileSync(join(dir, image));
    const ext = bytes.indexOf(Buffer.from([0x23, 0x85, 0x28, 0x75]), 112);
    const dirOffset = Number(bytes.readBigUInt64BE(ext + 24));
    mutate(bytes, ext, dirOffset);
    writeFileSync(join(dir, image), bytes);
    // info for all; check (the same open) for the first only, to keep the suite short.
    for (const command of name.startsWith('granularity') ? ['info', 'check'] : ['info']) {
      const result = await run(exe(), [command, image], { cwd: dir });
      expect(result.code).not.toBe(0);
      expect(result.stderr.replace(/^tessera-img: /, '')).toBe(qemuFails(command, image));
    }
  });
});

