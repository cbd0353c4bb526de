// qcow2's writeZeroes beside qemu-io's `write -z` (and `-z -u`, "may unmap") on the same image:
// the same allocation (qemu-img map, check's counts) and bytes, for v3, extended L2 and v2
// images, whole clusters, whole subclusters and unaligned pieces; and a plain write of zero
// bytes stores data, as qemu's `write -P 0`.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileProtocol } from '../../block-file/src/file-protocol.ts';
import { qcow2Format } from '../src/format.ts';

let dir: string;
const run = (command: string, ...args: string[]) => execFileSync(command, args, { cwd: dir, encoding: 'utf8' });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-zeroes-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What qemu-img sees of an image: its map (without host offsets) and check's cluster counts. */
function allocation(image: string): unknown {
  const map = (JSON.parse(run('qemu-img', 'map', '--output=json', image)) as Array<Record<string, unknown>>).map(({ offset: _offset, ...entry }) => entry);
  const check = JSON.parse(run('qemu-img', 'check', '--output=json', image)) as Record<string, unknown>;
  return { map, allocated: check['allocated-clusters'], leaks: check['leaks'], corruptions: check['corruptions'] };
}

const K = 1024;
// [offset, length]: a whole cluster, whole subclusters of one (2 KiB with extended L2), an unaligned piece, clusters never written.
const ZEROED: Array<[number, number]> = [
  [0, 64 * K],
  [66 * K, 8 * K],
  [130 * K + 512, 1536],
  [256 * K, 128 * K],
];

describe.each([
  ['v3', []],
  ['extended L2', ['-o', 'extended_l2=on']],
  ['v2', ['-o', 'compat=0.10']],
] as const)('%s', (name, options) => {
  it.each([false, true])('writeZeroes (may unmap: %s) allocates as qemu-io write -z', async (mayUnmap) => {
    const base = join(dir, `${name}-base.qcow2`.replaceAll(' ', '-'));
    run('qemu-img', 'create', '-q', '-f', 'qcow2', ...options, base, '1M');
    run('qemu-io', '-c', 'write -P 0x33 0 256k', base);
    const [qemu, ours] = [`${base}.${mayUnmap}.qemu`, `${base}.${mayUnmap}.ours`];
    copyFileSync(base, qemu);
    copyFileSync(base, ours);
    run('qemu-io', '-f', 'qcow2', ...ZEROED.flatMap(([offset, length]) => ['-c', `write -z ${mayUnmap ? '-u ' : ''}${offset} ${length}`]), qemu);
    const node = await qcow2Format.open(await fileProtocol.open(ours, { readOnly: false, driverOptions: {} }), { readOnly: false, driverOptions: {} });
    for (const [offset, length] of ZEROED) await node.writeZeroes!(offset, length, { mayUnmap });
    await node.close();
    expect(allocation(ours)).toEqual(allocation(qemu));
    expect(run('qemu-img', 'compare', qemu, ours)).toBe('Images are identical.\n');
  });
});

it('a plain write of zero bytes stores data, as qemu-io write -P 0', async () => {
  const [qemu, ours] = [join(dir, 'plain.qemu'), join(dir, 'plain.ours')];
  for (const image of [qemu, ours]) run('qemu-img', 'create', '-q', '-f', 'qcow2', image, '1M');
  run('qemu-io', '-c', 'write -P 0 0 128k', qemu);
  const node = await qcow2Format.open(await fileProtocol.open(ours, { readOnly: false, driverOptions: {} }), { readOnly: false, driverOptions: {} });
  await node.write(0, new Uint8Array(128 * K));
  await node.close();
  expect(allocation(ours)).toEqual(allocation(qemu));
});
