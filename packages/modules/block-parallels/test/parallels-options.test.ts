// The parallels driver's open options and what they do, against qemu: prealloc-mode and
// prealloc-size are accepted or refused as qemu-img does; while an image is open for writing
// (served by tessera-nbd and by qemu-nbd, written through NBD by qemu-io) the file grows ahead of
// the data by the same amount, and at close it is cut back to the end of the data, leaving
// byte-identical files. `check` (and `-r leaks`, `-r all`) gives qemu-img's messages, verdicts
// and exit codes on leaked space, clusters past the end and an image left in use.
import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable } from '../../../../tools/test-support/executables.ts';
import { scratch, type Scratch } from '../../../../tools/test-support/format-interop.ts';
import { startServer } from '../../../../tools/test-support/server-process.ts';

let s: Scratch;
const exe = () => executable('img-tool', 'modular');

beforeAll(() => {
  s = scratch('parallels-options');
  // 1 GiB in 64 KiB clusters: a 64 KiB BAT, data from 128 KiB.
  s.qemuImg('create', '-q', '-f', 'parallels', '-o', 'cluster_size=64k', 'fresh.parallels', '1G');
  // One cluster, then 300000 bytes of leaked space (not a whole number of sectors).
  copyFileSync(s.path('fresh.parallels'), s.path('leaky.parallels'));
  s.qemuIo('leaky.parallels', 'write -P 0x11 0 64k');
  appendFileSync(s.path('leaky.parallels'), new Uint8Array(300000));
  // Also a BAT entry (cluster 3) far past the end of the file, and then also left in use.
  const bytes = readFileSync(s.path('leaky.parallels'));
  bytes.writeUInt32LE(1000, 64 + 3 * 4);
  writeFileSync(s.path('outside.parallels'), bytes);
  bytes.writeUInt32LE(0x746f6e59, 44);
  writeFileSync(s.path('in-use.parallels'), bytes);
});
afterAll(() => s.remove());

describe('parallels open options', () => {
  it('prealloc-mode and prealloc-size are taken, and refused, in qemu-img\'s words', async () => {
    for (const option of ['prealloc-mode=falloc', 'prealloc-mode=truncate', 'prealloc-size=4M', 'prealloc-mode=bogus', 'prealloc-size=abc', 'prealloc-sizes=1']) {
      const spec = `driver=parallels,file.filename=fresh.parallels,${option}`;
      const ours = await s.ours(exe(), 'info', '--image-opts', spec);
      const theirs = s.qemuImgResult('info', '--image-opts', spec);
      expect({ code: ours.code, stderr: ours.stderr }, option).toEqual({ code: theirs.code, stderr: theirs.stderr });
    }
  });

  it('a served image grows ahead of its data by prealloc-size as qemu-nbd\'s, and is cut back at close to the same bytes', async () => {
    const sizes: Record<string, number[]> = {};
    for (const [server, command, args] of [
      ['qemu', 'qemu-nbd', []],
      ['ours', process.execPath, [executable('nbd-server', 'modular')]],
    ] as const) {
      for (const options of ['prealloc-size=1M,prealloc-mode=truncate', '']) {
        const image = `${server}-${options ? 'small' : 'default'}.parallels`;
        copyFileSync(s.path('fresh.parallels'), s.path(image));
        const socket = s.path(`${server}.sock`);
        const running = await startServer(command, [...args, '--image-opts', `driver=parallels,file.filename=${s.path(image)}${options ? `,${options}` : ''}`, '-k', socket, '--persistent'], socket);
        const observed: number[] = [];
        try {
          const write = (...commands: string[]) => execFileSync('qemu-io', ['-f', 'raw', ...commands.flatMap((c) => ['-c', c]), `nbd+unix:///?socket=${socket}`]);
          write('write -P 0x21 0 4k'); // the first cluster: the file grows by it and prealloc-size
          observed.push(statSync(s.path(image)).size);
          write('write -P 0x22 1M 4k', 'write -P 0x23 5M 4k'); // inside the grown part: no growth
          observed.push(statSync(s.path(image)).size);
        } finally {
          await running.stop();
        }
        observed.push(statSync(s.path(image)).size);
        sizes[`${server} ${options}`] = observed;
      }
    }
    // 1 MiB ahead of the first cluster (128 KiB + 64 KiB); qemu's default is 128 MiB; after close, three clusters.
    expect(sizes['qemu prealloc-size=1M,prealloc-mode=truncate']).toEqual([1245184, 1245184, 327680]);
    expect(sizes['ours prealloc-size=1M,prealloc-mode=truncate']).toEqual(sizes['qemu prealloc-size=1M,prealloc-mode=truncate']);
    expect(sizes['ours ']).toEqual(sizes['qemu ']);
    expect(sizes['ours ']![0]).toBe(196608 + 128 * 2 ** 20);
    for (const kind of ['small', 'default']) expect(readFileSync(s.path(`ours-${kind}.parallels`)).equals(readFileSync(s.path(`qemu-${kind}.parallels`))), kind).toBe(true);
  });
});

describe('parallels check against qemu-img', () => {
  it.each(['leaky', 'outside', 'in-use'])('%s: the same messages, verdicts and exit codes with and without repair', async (name) => {
    for (const repair of [[], ['-r', 'leaks'], ['-r', 'all']]) {
      const [ours, theirs] = [`${name}-ours.parallels`, `${name}-qemu.parallels`];
      copyFileSync(s.path(`${name}.parallels`), s.path(ours));
      copyFileSync(s.path(`${name}.parallels`), s.path(theirs));
      const result = await s.ours(exe(), 'check', ...repair, ours);
      const expected = s.qemuImgResult('check', ...repair, theirs);
      expect(result, repair.join(' ')).toEqual({ ...expected, stdout: expected.stdout.replaceAll(theirs, ours), stderr: expected.stderr.replaceAll(theirs, ours) });
      // Repaired in full, ours is clean (qemu 7.2, having cleared the entry past the end, grows
      // the file back to it at close: its own check then finds the space leaked).
      if (repair[1] === 'all') expect(s.qemuImgResult('check', ours)).toMatchObject({ code: 0 });
    }
  });
});
