// `convert -l` and `measure -l`: an internal snapshot as the source, named as qemu-img names it
// (a bare id or name, or snapshot.id=/snapshot.name=), with qemu-img's output, messages and exit
// codes; the converted bytes are the snapshot's, as qemu-img's are.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { both, configurations, qemuIo, tempDir, twinDirs, type Configuration } from './helpers.ts';

describe.each(configurations)('an internal snapshot as the source (%s)', (configuration: Configuration) => {
  let fixture: string;

  beforeAll(async () => {
    fixture = await tempDir();
    const img = (...args: string[]) => execFileSync('qemu-img', args, { cwd: fixture, stdio: 'ignore' });
    img('create', '-q', '-f', 'raw', 'base.raw', '6M');
    execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 9 0 6M', join(fixture, 'base.raw')], { stdio: 'ignore' });
    // Snapshots at two sizes over a backing file; the active layer changed after each.
    img('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4k', '-b', 'base.raw', '-F', 'raw', 'snap.qcow2', '8M');
    qemuIo(join(fixture, 'snap.qcow2'), 'write -P 1 0 1M', 'write -z 2M 64k', 'write -c -P 2 3M 4k');
    img('snapshot', '-c', 'first', 'snap.qcow2');
    qemuIo(join(fixture, 'snap.qcow2'), 'write -P 3 512k 1M');
    img('resize', 'snap.qcow2', '12M');
    qemuIo(join(fixture, 'snap.qcow2'), 'write -P 4 10M 100k');
    img('snapshot', '-c', 'second', 'snap.qcow2');
    qemuIo(join(fixture, 'snap.qcow2'), 'write -P 5 0 12M');
    img('create', '-q', '-f', 'raw', 'plain.raw', '1M');
  });

  it.each([
    ['-O', 'raw', '-l', 'first'],
    ['-O', 'raw', '-l', '2'],
    ['-O', 'raw', '-l', 'snapshot.name=second'],
    ['-O', 'raw', '-l', 'snapshot.id=1,snapshot.name=first'],
    ['-O', 'qcow2', '-l', 'first'],
    ['-O', 'qcow2', '-o', 'cluster_size=64k', '-l', 'snapshot.id=2'],
  ])('convert %s %s %s %s %s %s: the snapshot\'s bytes, as qemu-img writes them', async (...options) => {
    const dirs = await twinDirs(fixture);
    const { qemu, ours } = await both(configuration, ['convert', ...options, 'snap.qcow2', 'out.img'], dirs);
    expect(ours).toEqual(qemu);
    expect(ours.code).toBe(0);
    const [theirBytes, ourBytes] = await Promise.all([readFile(join(dirs.qemu, 'out.img')), readFile(join(dirs.ours, 'out.img'))]);
    if (options[1] === 'raw') expect(ourBytes.equals(theirBytes)).toBe(true);
    const compare = execFileSync('qemu-img', ['compare', join(dirs.qemu, 'out.img'), join(dirs.ours, 'out.img')], { encoding: 'utf8' });
    expect(compare).toBe('Images are identical.\n');
  });

  it.each([
    ['convert', '-O', 'raw', '-l', 'third', 'snap.qcow2', 'out.img'],
    ['convert', '-O', 'raw', '-l', 'snapshot.id=1,snapshot.name=second', 'snap.qcow2', 'out.img'],
    ['convert', '-O', 'raw', '-l', 'snapshot.name=', 'snap.qcow2', 'out.img'],
    ['convert', '-O', 'raw', '-l', 'snapshot.size=1', 'snap.qcow2', 'out.img'],
    ['convert', '-O', 'raw', '-l', 'first', 'plain.raw', 'out.img'],
    ['convert', '-O', 'raw', '-l', 'first', 'snap.qcow2', 'snap.qcow2', 'out.img'],
    ['measure', '-O', 'qcow2', '-l', 'first', 'snap.qcow2'],
    ['measure', '-O', 'raw', '-l', 'second', 'snap.qcow2'],
    ['measure', '--output=json', '-O', 'qcow2', '-o', 'cluster_size=4k', '-l', 'snapshot.id=1', 'snap.qcow2'],
    // A short backing-file extent followed by a zero cluster: only the extent's clusters count.
    ['measure', '--output=json', '-O', 'qcow2', '-o', 'cluster_size=4k', '-l', 'snapshot.id=2', 'snap.qcow2'],
    ['measure', '-O', 'qcow2', 'snap.qcow2'],
    ['measure', '-O', 'qcow2', '-l', 'third', 'snap.qcow2'],
    ['measure', '-O', 'qcow2', '-l', 'first', 'plain.raw'],
    ['measure', '-O', 'qcow2', '-l', 'snapshot.foo=1', 'snap.qcow2'],
  ])('%s %s %s %s %s %s %s %s: output, messages and exit code as qemu-img', async (...args) => {
    const dirs = await twinDirs(fixture);
    const { qemu, ours } = await both(configuration, args, dirs);
    expect(ours).toEqual(qemu);
  });
});
