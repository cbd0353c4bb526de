// `json:{…}` filenames and `--image-opts` with drivers' open options, qemu-img as the oracle:
// the same output, messages and exit codes, and the same bytes where data is read through them.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { both, configurations, MiB, random, tempDir, tool, writeImage, type Configuration } from './helpers.ts';

const qcow2 = (file: string, extra = '') => `json:{"driver":"qcow2","file":{"driver":"file","filename":"${file}"}${extra}}`;
const withBacking = qcow2('x.qcow2', ',"backing":{"driver":"qcow2","file":{"driver":"file","filename":"c.qcow2"}}');

describe.each(configurations)('json: filenames and --image-opts (%s)', (configuration: Configuration) => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
    // Data and holes interleaved, so a window that starts mid-file reads both.
    await writeImage(join(dir, 'r.raw'), 2 * MiB, [[0, random(4096)], [512 * 1024 + 100, random(70_000)], [2 * MiB - 4096, random(4096)]]);
    const sh = (...args: string[]) => execFileSync(args[0]!, args.slice(1), { cwd: dir, stdio: 'ignore' });
    sh('qemu-img', 'create', '-f', 'qcow2', 'b.qcow2', '1M');
    sh('qemu-io', '-f', 'qcow2', '-c', 'write -P 3 64k 64k', 'b.qcow2');
    sh('qemu-img', 'create', '-f', 'qcow2', '-b', 'b.qcow2', '-F', 'qcow2', 'x.qcow2');
    sh('qemu-io', '-f', 'qcow2', '-c', 'write -P 5 192k 4k', 'x.qcow2');
    sh('qemu-img', 'create', '-f', 'qcow2', 'c.qcow2', '1M');
    sh('qemu-io', '-f', 'qcow2', '-c', 'write -P 7 0 64k', 'c.qcow2');
    sh('qemu-img', 'create', '-f', 'vpc', 't.vpc', '1M');
    sh('qemu-img', 'create', '-f', 'vmdk', 't.vmdk', '1M');
  });

  it.each([
    // Nested objects, dotted keys, a probed format; -f names the format over the JSON's.
    [['info', qcow2('x.qcow2')]],
    [['info', '--output=json', 'json:{"driver":"qcow2","file.filename":"x.qcow2"}']],
    [['info', 'json:{"file":{"driver":"file","filename":"x.qcow2"}}']],
    [['info', '-f', 'qcow2', 'json:{"driver":"raw","file":{"filename":"x.qcow2"}}']],
    // Unknown options refused by the format's schema; qemu's tuning and generic options taken.
    [['info', qcow2('x.qcow2', ',"foo":1')]],
    [['info', '--image-opts', 'driver=vmdk,file.filename=t.vmdk,foo=1']],
    [['info', '--image-opts', 'driver=qcow2,file.filename=x.qcow2,l2-cache-size=1M,lazy-refcounts=on,overlap-check.template=all,cache-clean-interval=0x10,node-name=n,read-only=on,discard=unmap']],
    [['info', '--image-opts', 'driver=qcow2,file.filename=x.qcow2,l2-cache-size=x']],
    // Options that change what the image is: qemu's json: pseudo-filename, in its key order.
    [['info', '--image-opts', 'driver=raw,offset=512,file.filename=r.raw']],
    [['info', '--output=json', '--image-opts', 'driver=raw,offset=1k,size=1024,file.filename=r.raw']],
    [['info', '--image-opts', 'driver=raw,file.filename=r.raw,offset=3M']],
    [['info', '--image-opts', 'driver=raw,file.filename=r.raw,offset=2M,size=512']],
    [['info', '--image-opts', 'driver=raw,file.filename=r.raw,size=1000']],
    [['info', '--image-opts', 'driver=vpc,file.filename=t.vpc,force_size_calc=current_size']],
    [['info', '--image-opts', 'driver=vpc,file.filename=t.vpc,force_size_calc=bogus']],
    // The backing child: null is no backing file; nested options name another one (info refuses them).
    [['info', withBacking]],
    [['map', '--output=json', withBacking]],
    [['map', '--output=json', qcow2('x.qcow2', ',"backing":null')]],
    [['map', '--image-opts', 'driver=qcow2,file.filename=x.qcow2,backing.driver=qcow2,backing.file.filename=c.qcow2']],
    [['compare', withBacking, 'c.qcow2']],
    [['compare', 'x.qcow2', withBacking]],
    [['check', '--output=json', qcow2('x.qcow2', ',"backing":null')]],
    [['compare', '--image-opts', 'driver=raw,file.filename=r.raw,offset=512k,size=1M', 'driver=raw,file.filename=r.raw,offset=512k']],
    // Text that is not a JSON object.
    [['info', qcow2('x.qcow2').slice(0, -1)]],
    [['info', 'json:[1]']],
  ])('%j: as qemu-img', async (args) => {
    const { qemu, ours } = await both(configuration, args, dir);
    expect(ours).toEqual(qemu);
  });

  it('convert reads a raw window and an overridden backing file as qemu-img does', async () => {
    for (const [source, name] of [
      ['json:{"driver":"raw","offset":"512k","size":"1M","file":{"driver":"file","filename":"r.raw"}}', 'window'],
      [withBacking, 'chain'],
    ] as const) {
      execFileSync('qemu-img', ['convert', '-O', 'raw', source, `${name}.qemu.raw`], { cwd: dir });
      const result = await tool(configuration, ['convert', '-O', 'raw', source, `${name}.ours.raw`], dir);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(Buffer.compare(await readFile(join(dir, `${name}.ours.raw`)), await readFile(join(dir, `${name}.qemu.raw`)))).toBe(0);
    }
  });
});
