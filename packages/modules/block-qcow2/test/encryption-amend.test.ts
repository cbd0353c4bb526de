// amend of an encrypted qcow2's LUKS key slots (encrypt.state, encrypt.new-secret, …): slots we
// add or erase open (or no longer open) in qemu-img, whose check stays clean; qemu-img's open
// here; refusals (legacy aes, no encryption, creation-only keys, wrong combinations) in its words,
// the image's bytes unchanged; after every prefix of an amend's writes the secret that stays opens it, and a slot is active exactly when its secret opens it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable } from '../../../../tools/test-support/executables.ts';
import { scratch, writeFragmentedRaw, type Scratch } from '../../../../tools/test-support/format-interop.ts';
import { expectRefusedAlike } from '../../../../tools/test-support/twin-refusals.ts';
import { readWriteLog } from '../../../../tools/test-support/write-log.ts';

const OBJECTS = ['--object', 'secret,id=s0,data=correct horse', '--object', 'secret,id=s1,data=battery staple'];
const opts = (image: string, secret = 's0') => `driver=qcow2,file.filename=${image},encrypt.key-secret=${secret}`;
const amend = (options: string, image: string, secret = 's0') => ['amend', ...OBJECTS, '-o', options, '--image-opts', opts(image, secret)];
const exe = () => executable('img-tool', 'modular');
const IDENTICAL = { code: 0, stdout: 'Images are identical.\n', stderr: '' };

let s: Scratch;

beforeAll(() => {
  s = scratch('qcow2-crypt-amend');
  writeFragmentedRaw(s.path('frag.raw'), 2 ** 20);
  s.qemuImg('convert', ...OBJECTS, '-O', 'qcow2', '-o', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10', 'frag.raw', 'qemu-luks.qcow2');
  s.qemuImg('convert', ...OBJECTS, '-O', 'qcow2', '-o', 'encrypt.format=aes,encrypt.key-secret=s0', 'frag.raw', 'qemu-aes.qcow2');
  s.qemuImg('create', '-q', '-f', 'qcow2', 'plain.qcow2', '1M');
  execFileSync(process.execPath, [exe(), 'convert', ...OBJECTS, '-O', 'qcow2', '-o', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10', 'frag.raw', 'ours-luks.qcow2'], { cwd: s.dir });
});
afterAll(() => s.remove());

const compare = <T,>(run: (...args: string[]) => T, image: string, secret: string): T => run('compare', ...OBJECTS, '--image-opts', opts(image, secret), 'driver=raw,file.filename=frag.raw');
const qemuCompare = (image: string, secret: string) => compare((...args) => s.qemuImgResult(...args), image, secret);
const activeSlots = (image: string) => {
  const info = JSON.parse(s.qemuImg('info', '--output=json', image)) as { 'format-specific': { data: { encrypt: { slots: { active: boolean }[] } } } };
  return info['format-specific'].data.encrypt.slots.flatMap((slot, i) => (slot.active ? [i] : []));
};

describe('encrypted qcow2 key slots', () => {
  it('added and erased here: qemu-img opens with the secrets that stay, and its check is clean', async () => {
    copyFileSync(s.path('qemu-luks.qcow2'), s.path('a.qcow2'));
    const before = readFileSync(s.path('a.qcow2'));
    expect(await s.ours(exe(), ...amend('encrypt.state=active,encrypt.new-secret=s1,encrypt.iter-time=10', 'a.qcow2'))).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(activeSlots('a.qcow2')).toEqual([0, 1]);
    expect(qemuCompare('a.qcow2', 's1')).toEqual(IDENTICAL);
    expect(await s.ours(exe(), ...amend('encrypt.state=inactive,encrypt.old-secret=s0', 'a.qcow2', 's1'))).toMatchObject({ code: 0 });
    expect(activeSlots('a.qcow2')).toEqual([1]);
    expect(qemuCompare('a.qcow2', 's1')).toEqual(IDENTICAL);
    expect(qemuCompare('a.qcow2', 's0')).toMatchObject({ code: 2, stderr: expect.stringContaining('Invalid password, cannot unlock any keyslot') });
    expect(s.qemuImgResult('check', ...OBJECTS, '--image-opts', opts('a.qcow2', 's1'))).toMatchObject({ code: 0 });
    // Only the LUKS header's clusters changed: the qcow2 metadata and the guest data are as they were.
    const after = readFileSync(s.path('a.qcow2'));
    expect(after.length).toBe(before.length);
    expect(after.subarray(0, 65536).equals(before.subarray(0, 65536))).toBe(true);
  });

  it('added and erased by qemu-img: opened here', async () => {
    copyFileSync(s.path('ours-luks.qcow2'), s.path('b.qcow2'));
    s.qemuImg(...amend('encrypt.state=active,encrypt.new-secret=s1,encrypt.iter-time=10', 'b.qcow2'));
    s.qemuImg(...amend('encrypt.state=inactive,encrypt.keyslot=0', 'b.qcow2', 's1'));
    expect(await compare((...args) => s.ours(exe(), ...args), 'b.qcow2', 's1')).toEqual(IDENTICAL);
    const locked = ['compare', ...OBJECTS, '--image-opts', opts('b.qcow2'), 'driver=raw,file.filename=frag.raw'];
    expect(await s.ours(exe(), ...locked)).toEqual(s.qemuImgResult(...locked));
  });

  it('refusals in qemu-img\'s words, the image untouched', async () => {
    await expectRefusedAlike(s, exe(), 'qemu-luks.qcow2', [
      amend('encrypt.state=active', 'IMAGE'),
      amend('encrypt.state=inactive,encrypt.keyslot=0', 'IMAGE'),
      amend('encrypt.state=inactive,encrypt.old-secret=s1', 'IMAGE'),
      amend('encrypt.keyslot=1', 'IMAGE'),
      amend('encrypt.format=luks', 'IMAGE'),
      amend('encrypt.key-secret=s1', 'IMAGE'),
      ['amend', ...OBJECTS, '-o', 'encrypt.state=active,encrypt.new-secret=s1', 'IMAGE'],
    ]);
    await expectRefusedAlike(s, exe(), 'qemu-aes.qcow2', [amend('encrypt.state=active,encrypt.new-secret=s1', 'IMAGE')]);
    await expectRefusedAlike(s, exe(), 'plain.qcow2', [['amend', ...OBJECTS, '-o', 'encrypt.state=active,encrypt.new-secret=s1', 'IMAGE']]);
    // Other options of an encrypted image are not amended here (qemu-img would): refused, nothing written.
    copyFileSync(s.path('qemu-luks.qcow2'), s.path('mixed.qcow2'));
    const mixed = await s.ours(exe(), ...amend('encrypt.state=active,encrypt.new-secret=s1,lazy_refcounts=on', 'mixed.qcow2'));
    expect(mixed).toMatchObject({ code: 1, stderr: expect.stringContaining('lazy_refcounts on an encrypted image is not supported yet') });
    expect(readFileSync(s.path('mixed.qcow2')).equals(readFileSync(s.path('qemu-luks.qcow2')))).toBe(true);
  });

  it('crash states: after every prefix of an add\'s and an erase\'s writes, qemu-img opens the image with the secret that stays', async () => {
    const log = s.path('amend.log');
    /**
     * The states after each write: `staying` opens every one; `changing` (the secret of `slot`)
     * opens exactly where info shows the slot active: no state has an active slot whose key
     * material is not there yet, or no longer there (the write order).
     */
    const replay = async (image: string, options: string, openSecret: string, staying: string, changing: string, slot: number) => {
      const initial = readFileSync(s.path(image));
      rmSync(log, { force: true });
      execFileSync(process.execPath, [exe(), ...amend(options, image, openSecret)], { cwd: s.dir, env: { ...process.env, TESSERA_WRITE_LOG: log }, stdio: 'pipe' });
      const writes = readWriteLog(log).operations.filter((op) => op.file === image && op.kind === 'write');
      expect(writes.length).toBeGreaterThanOrEqual(2);
      let state = Buffer.from(initial);
      const changed: boolean[] = [];
      for (const write of writes) {
        state = Buffer.from(state);
        if (write.kind === 'write') write.data.copy(state, write.offset);
        writeFileSync(s.path('state.qcow2'), state);
        expect(qemuCompare('state.qcow2', staying), `after the write at ${write.kind === 'write' ? write.offset : '?'}`).toEqual(IDENTICAL);
        const active = activeSlots('state.qcow2').includes(slot);
        expect({ write: changed.length, opens: qemuCompare('state.qcow2', changing).code === 0 }).toEqual({ write: changed.length, opens: active });
        changed.push(active);
      }
      expect(changed.at(-1), 'the amend took effect').toBe(!options.includes('state=inactive'));
    };
    copyFileSync(s.path('qemu-luks.qcow2'), s.path('crash.qcow2'));
    await replay('crash.qcow2', 'encrypt.state=active,encrypt.new-secret=s1,encrypt.iter-time=10', 's0', 's0', 's1', 1);
    await replay('crash.qcow2', 'encrypt.state=inactive,encrypt.old-secret=s0', 's1', 's1', 's0', 0);
    expect(activeSlots('crash.qcow2')).toEqual([1]);
  });
});
