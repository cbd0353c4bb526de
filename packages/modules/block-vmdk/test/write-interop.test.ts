// VMDK images written here, checked by qemu-img: `create` lays out monolithicSparse as qemu-img
// does (the same bytes but for the random CID), `convert -O vmdk` to monolithicSparse and
// streamOptimized passes `qemu-img check` and `compare`, and writes into images qemu-img made
// (partial grains, zeroed grains) keep them consistent.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable, run } from '../../../../tools/test-support/executables.ts';
import { fragmentedData } from './helpers/data.ts';

let dir: string;
const sh = (file: string, args: string[]) => execFileSync(file, args, { cwd: dir, encoding: 'utf8' });
const qemuImg = (...args: string[]) => sh('qemu-img', args);
const qemuIo = (image: string, ...commands: string[]) => sh('qemu-io', [...commands.flatMap((c) => ['-c', c]), image]);
const exe = () => executable('img-tool', 'modular');
const ours = async (...args: string[]) => {
  const result = await run(exe(), args, { cwd: dir });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.stdout;
};
// qemu prints the random CID unpadded, so its length varies: drop its digits and pad the descriptor's
// end with as many NULs, keeping every later byte in place.
const withoutCid = (bytes: Buffer) => {
  const text = bytes.toString('latin1');
  const cid = /\nCID=([0-9a-f]{1,8})\n/.exec(text);
  if (!cid) throw new Error('no CID line in the descriptor');
  const end = text.indexOf('\0', cid.index);
  const after = cid.index + cid[0].length;
  return `${text.slice(0, cid.index)}\nCID=\n${text.slice(after, end)}${'\0'.repeat(cid[1]!.length)}${text.slice(end)}`;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-vmdk-write-'));
  writeFileSync(join(dir, 'data.raw'), fragmentedData(5 * 2 ** 20 + 64 * 1024, 7));
  mkdirSync(join(dir, 'ours'));
  mkdirSync(join(dir, 'theirs'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('create -f vmdk', () => {
  it.each(['', 'zeroed_grain=on,adapter_type=lsilogic', 'compat6=on,toolsversion=1234', 'hwversion=7,adapter_type=buslogic'])(
    '-o %s: the bytes qemu-img creates, but for the CID',
    async (options) => {
      const args = [...(options ? ['-o', options] : []), 'disk.vmdk', '3G'];
      const created = await run(exe(), ['create', '-q', '-f', 'vmdk', ...args], { cwd: join(dir, 'ours') });
      expect(created.stderr).toBe('');
      expect(created.code).toBe(0);
      execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', ...args], { cwd: join(dir, 'theirs') });
      expect(withoutCid(readFileSync(join(dir, 'ours/disk.vmdk')))).toBe(withoutCid(readFileSync(join(dir, 'theirs/disk.vmdk'))));
      expect(qemuImg('check', 'ours/disk.vmdk')).toBe('No errors were found on the image.\n');
    },
  );

  it.each([
    ['subformat=foo', 'invalid parameter value: foo'],
    ['adapter_type=scsi', 'invalid parameter value: scsi'],
    ['compat6=on,hwversion=7', 'compat6 cannot be enabled with hwversion set'],
    ['subformat=monolithicFlat,backing_file=base.vmdk,backing_fmt=vmdk', "Flat image can't have backing file"],
    ['backing_file=data.raw,backing_fmt=raw', 'backing_file must be a vmdk image'],
  ])('-o %s is refused with qemu-img\'s message', async (options, message) => {
    qemuImg('create', '-q', '-f', 'vmdk', 'base.vmdk', '1M');
    const result = await run(exe(), ['create', '-q', '-f', 'vmdk', '-o', options, 'refused.vmdk', '1M'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`tessera-img: refused.vmdk: ${message}\n`);
  });

  // Sizes past 2 GiB so the twoGbMaxExtent subformats split; flat extents are compared by length and
  // holes (reading gigabytes of them proves nothing more), everything else byte for byte.
  it.each([
    ['monolithicFlat', '5M'],
    ['twoGbMaxExtentFlat', '3G'],
    ['twoGbMaxExtentSparse', '4200M'],
  ])('-o subformat=%s (%s): the files qemu-img creates, named as it names them, the same bytes but for the CID', async (subformat, size) => {
    const args = ['create', '-q', '-f', 'vmdk', '-o', `subformat=${subformat}`, `${subformat}.vmdk`, size];
    const created = await run(exe(), args, { cwd: join(dir, 'ours') });
    expect(created).toMatchObject({ code: 0, stderr: '' });
    execFileSync('qemu-img', args, { cwd: join(dir, 'theirs') });
    const files = (side: string) => readdirSync(join(dir, side)).filter((name) => name.startsWith(`${subformat}`)).sort();
    expect(files('ours')).toEqual(files('theirs'));
    expect(files('ours').length).toBe(subformat === 'monolithicFlat' ? 2 : subformat === 'twoGbMaxExtentFlat' ? 3 : 4);
    for (const name of files('theirs')) {
      const [mine, theirs] = [join(dir, 'ours', name), join(dir, 'theirs', name)];
      if (/-f(lat|\d{3})\.vmdk$/.test(name)) {
        expect(statSync(mine).size).toBe(statSync(theirs).size);
        expect(statSync(mine).blocks).toBeLessThanOrEqual(statSync(theirs).blocks);
      } else if (name === `${subformat}.vmdk`) {
        expect(readFileSync(mine, 'latin1').replace(/\nCID=[0-9a-f]+\n/, '\nCID=\n')).toBe(readFileSync(theirs, 'latin1').replace(/\nCID=[0-9a-f]+\n/, '\nCID=\n'));
      } else {
        expect(Buffer.compare(readFileSync(mine), readFileSync(theirs))).toBe(0);
      }
    }
    expect(qemuImg('check', `ours/${subformat}.vmdk`)).toBe('No errors were found on the image.\n');
    expect(qemuImg('compare', `ours/${subformat}.vmdk`, `theirs/${subformat}.vmdk`)).toBe('Images are identical.\n');
  });

  it.each(['monolithicSparse', 'twoGbMaxExtentSparse', 'streamOptimized'])(
    '-b base -F vmdk, subformat=%s: the parent\'s CID as parentCID, its name as the hint, as qemu-img writes them',
    async (subformat) => {
      for (const side of ['ours', 'theirs']) execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', 'parent.vmdk', '1M'], { cwd: join(dir, side) });
      const args = ['create', '-q', '-f', 'vmdk', '-o', `subformat=${subformat}`, '-b', 'parent.vmdk', '-F', 'vmdk', `child-${subformat}.vmdk`];
      expect(await run(exe(), args, { cwd: join(dir, 'ours') })).toMatchObject({ code: 0, stderr: '' });
      execFileSync('qemu-img', args, { cwd: join(dir, 'theirs') });
      const descriptor = (side: string) => {
        const text = readFileSync(join(dir, side, `child-${subformat}.vmdk`), 'latin1');
        const parentCid = /\nparentCID=([0-9a-f]+)\n/.exec(text)![1];
        expect(parentCid).toBe(/\nCID=([0-9a-f]+)\n/.exec(readFileSync(join(dir, side, 'parent.vmdk'), 'latin1'))![1]);
        // The descriptor text (the layout around it is compared by the tests above).
        const start = text.indexOf('# Disk DescriptorFile');
        const end = text.indexOf('\0', start);
        return text.slice(start, end < 0 ? undefined : end).replace(/^(parent)?CID=[0-9a-f]+$/gm, '$1CID=');
      };
      expect(descriptor('ours')).toBe(descriptor('theirs'));
      qemuIo(`ours/child-${subformat}.vmdk`, 'read -P 0 0 1M');
      expect(qemuImg('info', `ours/child-${subformat}.vmdk`)).toContain(`backing file: parent.vmdk (actual path: ours/parent.vmdk)\n`);
    },
  );
});

describe('convert -O vmdk', () => {
  it.each(['monolithicSparse', 'streamOptimized', 'monolithicFlat', 'twoGbMaxExtentSparse', 'twoGbMaxExtentFlat'])('%s: qemu-img checks and compares it clean, and reads it as we do', async (subformat) => {
    const image = `converted-${subformat}.vmdk`;
    await ours('convert', '-O', 'vmdk', '-o', `subformat=${subformat}`, 'data.raw', image);
    expect(qemuImg('check', image)).toBe('No errors were found on the image.\n');
    expect(qemuImg('compare', 'data.raw', image)).toBe('Images are identical.\n');
    expect(JSON.parse(qemuImg('info', '--output=json', image))['format-specific'].data['create-type']).toBe(subformat);
    for (const args of [['info', '--output=json'], ['map', '--output=json']]) expect(await ours(...args, image)).toBe(qemuImg(...args, image));
    if (subformat === 'streamOptimized') {
      // VMware's one-pass layout: the header says GD_AT_END, the file ends in footer marker, footer, end-of-stream marker.
      const bytes = readFileSync(join(dir, image));
      expect(bytes.readBigUInt64LE(56)).toBe(0xffffffffffffffffn);
      expect(bytes.readUInt32LE(bytes.length - 3 * 512 + 12)).toBe(3);
      expect(bytes.subarray(bytes.length - 1024, bytes.length - 1020).toString('latin1')).toBe('KDMV');
      expect(bytes.subarray(bytes.length - 512).every((b) => b === 0)).toBe(true);
    }
  });

  it('into images qemu-img made (-n): partial grains, zeroed grains, grains it had written', async () => {
    for (const options of ['zeroed_grain=off', 'zeroed_grain=on']) {
      const image = `into-${options}.vmdk`;
      qemuImg('create', '-q', '-f', 'vmdk', '-o', options, image, String(5 * 2 ** 20 + 64 * 1024));
      qemuIo(image, 'write -P 0x99 0 3M', 'write -z 4M 128k');
      await ours('convert', '-n', '-O', 'vmdk', 'data.raw', image);
      expect(qemuImg('check', image)).toBe('No errors were found on the image.\n');
      expect(qemuImg('compare', 'data.raw', image)).toBe('Images are identical.\n');
    }
  });
});
