// `tessera-img snapshot -c/-a/-d` next to qemu-img's: the same commands on twin copies of an
// image give the same exit codes, messages and snapshot lists, the same guest bytes, and images
// qemu-img checks clean.
import { execFileSync } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { both, configurations, qemuImg, tempDir, tool, twinDirs, writeImage, random, MiB } from './helpers.ts';

let fixture: string;

beforeAll(async () => {
  fixture = await tempDir();
  execFileSync('qemu-img', ['create', '-f', 'qcow2', 'disk.qcow2', '4M'], { cwd: fixture });
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 96k', '-c', 'write -P 0xa5 2M 64k', 'disk.qcow2'], { cwd: fixture });
  await writeImage(join(fixture, 'disk.raw'), MiB, [[0, random(4096)]]);
});

/** Ids and names as qemu-img lists them (the dates differ between two runs). */
async function listed(path: string): Promise<{ id: string; name: string }[]> {
  const result = await qemuImg(['info', '--output=json', path]);
  const info = JSON.parse(result.stdout) as { snapshots?: { id: string; name: string }[] };
  return (info.snapshots ?? []).map(({ id, name }) => ({ id, name }));
}

function qemuIo(path: string, command: string): void {
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', command, path]);
}

describe.each(configurations)('snapshot (%s)', (configuration) => {
  it('-c, -a and -d do what qemu-img does, with its messages and exit codes', async () => {
    const dirs = await twinDirs(fixture);
    const steps: string[][] = [
      ['-c', 'first'],
      ['-c', 'first'], // equal names are allowed
      ['-c', 'second'],
      ['-a', 'nope'],
      ['-d', 'nope'],
      ['-a', 'first'], // the first of two by that name
      ['-a', '3'], // ids too
      ['-d', '2'], // names only: qemu-img finds no snapshot named 2
      ['-d', 'first'], // the first of two
      ['-q', '-c', 'third'],
      ['-U', '-c', 'shared'],
      ['-c', 'n'.repeat(300)], // kept to 255 bytes
      ['-a', 'n'.repeat(255)],
    ];
    for (const step of steps) {
      const { qemu, ours } = await both(configuration, ['snapshot', ...step, 'disk.qcow2'], dirs);
      expect(ours, step.join(' ')).toEqual(qemu);
      expect(await listed(join(dirs.ours, 'disk.qcow2'))).toEqual(await listed(join(dirs.qemu, 'disk.qcow2')));
    }
    // Our table, listed by both tools: the same lines (dates, sizes, clocks included).
    const ourImage = join(dirs.ours, 'disk.qcow2');
    const [qemuListing, ourListing] = [await qemuImg(['snapshot', '-l', ourImage]), await tool(configuration, ['snapshot', '-l', ourImage])];
    expect(ourListing.stdout).toBe(qemuListing.stdout);
    expect(qemuListing.stdout.trim().split('\n').length).toBe(2 + 4); // title, column heads, four snapshots
    const check = await qemuImg(['check', join(dirs.ours, 'disk.qcow2')]);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('No errors were found on the image.');
    const compare = await qemuImg(['compare', join(dirs.ours, 'disk.qcow2'), join(dirs.qemu, 'disk.qcow2')]);
    expect(compare).toEqual({ code: 0, stdout: 'Images are identical.\n', stderr: '' });
  });

  it('an L1 table longer than one refcount block\'s range (512-byte clusters, 2 GiB) is copied in one run: -c, -a, -d as qemu-img', async () => {
    const dirs = await twinDirs(fixture);
    for (const dir of [dirs.qemu, dirs.ours]) {
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512', 'long.qcow2', '2G'], { cwd: dir });
      qemuIo(join(dir, 'long.qcow2'), 'write -P 7 0 1M');
      qemuIo(join(dir, 'long.qcow2'), 'write -P 8 1500M 1M');
    }
    for (const step of [['-c', 'one'], ['-c', 'two'], ['-a', 'one'], ['-d', 'two']]) {
      const { qemu, ours } = await both(configuration, ['snapshot', ...step, 'long.qcow2'], dirs);
      expect(ours, step.join(' ')).toEqual(qemu);
      const check = await qemuImg(['check', join(dirs.ours, 'long.qcow2')]);
      expect(check.code, check.stdout + check.stderr).toBe(0);
      qemuIo(join(dirs.qemu, 'long.qcow2'), 'write -P 9 1000M 4k'); // changed after each step, in both
      qemuIo(join(dirs.ours, 'long.qcow2'), 'write -P 9 1000M 4k');
    }
    expect(await listed(join(dirs.ours, 'long.qcow2'))).toEqual(await listed(join(dirs.qemu, 'long.qcow2')));
    const compare = await qemuImg(['compare', join(dirs.ours, 'long.qcow2'), join(dirs.qemu, 'long.qcow2')]);
    expect(compare).toEqual({ code: 0, stdout: 'Images are identical.\n', stderr: '' });
  });

  it('a snapshot made here brings back the bytes at its creation (applied here or by qemu-img)', async () => {
    const dir = await tempDir();
    const image = join(dir, 'disk.qcow2');
    const saved = join(dir, 'saved.qcow2');
    await copyFile(join(fixture, 'disk.qcow2'), image);
    await copyFile(image, saved);
    expect((await tool(configuration, ['snapshot', '-c', 'before', image])).code).toBe(0);
    qemuIo(image, 'write -P 0x77 32k 100k');
    qemuIo(image, 'write -P 0x00 2M 4k');
    expect((await qemuImg(['compare', image, saved])).code).toBe(1);

    const byQemu = join(dir, 'by-qemu.qcow2');
    await copyFile(image, byQemu);
    expect((await qemuImg(['snapshot', '-a', 'before', byQemu])).code).toBe(0);
    expect((await tool(configuration, ['snapshot', '-a', 'before', image])).code).toBe(0);
    for (const applied of [image, byQemu]) {
      expect(await qemuImg(['compare', applied, saved])).toEqual({ code: 0, stdout: 'Images are identical.\n', stderr: '' });
      expect((await qemuImg(['check', applied])).code).toBe(0);
    }
    expect((await tool(configuration, ['snapshot', '-d', 'before', image])).code).toBe(0);
    expect(await listed(image)).toEqual([]);
    expect((await qemuImg(['check', image])).stdout).toContain('No errors were found on the image.');
  });

  it('a raw image has no snapshots: qemu-img’s messages', async () => {
    const dir = await tempDir();
    await copyFile(join(fixture, 'disk.raw'), join(dir, 'disk.raw'));
    for (const step of [['-c', 'x'], ['-a', 'x'], ['-d', 'x'], ['-l']]) {
      const { qemu, ours } = await both(configuration, ['snapshot', ...step, 'disk.raw'], dir);
      expect(ours.code, step.join(' ')).toBe(qemu.code);
      expect(ours.stdout).toBe(qemu.stdout);
      // qemu-img first warns that it probed the format; the message after that is the same.
      expect(ours.stderr.trim().split('\n').at(-1)).toBe(qemu.stderr.trim().split('\n').at(-1));
    }
  });
});
