// amend of LUKS key slots (state, keyslot, old-secret, new-secret, iter-time, --force): slots we
// add or erase open (or no longer open) in qemu-img, and qemu-img's in ours; each refusal is
// qemu-img's (message, exit code) and leaves the image's bytes as they were; and every prefix of
// our writes (the run's write log replayed) leaves an image that opens with the secret that stays.
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executable } from '../../../../tools/test-support/executables.ts';
import { MemoryFile, scratch, writeFragmentedRaw, type Scratch } from '../../../../tools/test-support/format-interop.ts';
import { expectRefusedAlike } from '../../../../tools/test-support/twin-refusals.ts';
import { readWriteLog } from '../../../../tools/test-support/write-log.ts';
import type { BlockSecrets } from '../../../core/src/index.ts';
import { HEADER_SIZE, SECTOR_SIZE, parseHeader } from '../src/header.ts';
import { openVolume } from '../src/volume.ts';

const PASSWORDS: Record<string, string> = { s0: 'correct horse', s1: 'battery staple', s2: 'third key' };
const OBJECTS = Object.entries(PASSWORDS).flatMap(([id, data]) => ['--object', `secret,id=${id},data=${data}`]);
const opts = (image: string, secret = 's0') => `driver=luks,file.filename=${image},key-secret=${secret}`;
const exe = () => executable('img-tool', 'modular');
const amend = (options: string, image: string, ...extra: string[]) => amendWith('s0', options, image, ...extra);
/** The image opened with the secret `secret` names. */
const amendWith = (secret: string, options: string, image: string, ...extra: string[]) => ['amend', ...OBJECTS, ...extra, '-o', options, '--image-opts', opts(image, secret)];

let s: Scratch;

beforeAll(() => {
  s = scratch('luks-amend');
  writeFragmentedRaw(s.path('frag.raw'), 2 ** 20);
  s.qemuImg('convert', ...OBJECTS, '-O', 'luks', '-o', 'key-secret=s0,iter-time=10', 'frag.raw', 'qemu.luks');
  execFileSync(process.execPath, [exe(), 'convert', ...OBJECTS, '-O', 'luks', '-o', 'key-secret=s0,iter-time=10', 'frag.raw', 'ours.luks'], { cwd: s.dir });
});
afterAll(() => s.remove());

/** Active slots, as qemu-img info reports them. */
function activeSlots(image: string): number[] {
  const info = JSON.parse(s.qemuImg('info', '--output=json', image)) as { 'format-specific': { data: { slots: { active: boolean }[] } } };
  return info['format-specific'].data.slots.flatMap((slot, i) => (slot.active ? [i] : []));
}

/** qemu-img compare of the image opened with `secret` against the plaintext. */
const qemuCompare = (image: string, secret: string) => s.qemuImgResult('compare', ...OBJECTS, '--image-opts', opts(image, secret), 'driver=raw,file.filename=frag.raw');
const oursCompare = (image: string, secret: string) => s.ours(exe(), 'compare', ...OBJECTS, '--image-opts', opts(image, secret), 'driver=raw,file.filename=frag.raw');
const IDENTICAL = { code: 0, stdout: 'Images are identical.\n', stderr: '' };
/** compare's verdict when the image does not open (exit 2). */
const LOCKED = { code: 2, stdout: '', stderr: expect.stringContaining('Invalid password, cannot unlock any keyslot') };

describe('key slots amended here, read by qemu-img', () => {
  it('add (first free, then an explicit slot), erase by old-secret and by index', async () => {
    copyFileSync(s.path('qemu.luks'), s.path('a.luks'));
    expect(await s.ours(exe(), ...amend('state=active,new-secret=s1,iter-time=10', 'a.luks'))).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await s.ours(exe(), ...amend('state=active,new-secret=s2,keyslot=5,iter-time=10', 'a.luks'))).toMatchObject({ code: 0 });
    expect(activeSlots('a.luks')).toEqual([0, 1, 5]);
    for (const secret of ['s0', 's1', 's2']) expect(qemuCompare('a.luks', secret)).toEqual(IDENTICAL);
    // The slot's iterations follow iter-time (10 ms: far below a 2 s default's count, at least qemu's floor of 1000).
    const slot1 = parseHeader(readFileSync(s.path('a.luks'))).slots[1]!;
    expect(slot1.iterations).toBeGreaterThanOrEqual(1000);

    const before = readFileSync(s.path('a.luks'));
    expect(await s.ours(exe(), ...amend('state=inactive,old-secret=s0', 'a.luks'))).toMatchObject({ code: 0 });
    expect(await s.ours(exe(), ...amendWith('s1', 'state=inactive,keyslot=5', 'a.luks'))).toMatchObject({ code: 0 });
    expect(activeSlots('a.luks')).toEqual([1]);
    expect(qemuCompare('a.luks', 's1')).toEqual(IDENTICAL);
    expect(qemuCompare('a.luks', 's0')).toMatchObject(LOCKED);
    expect(qemuCompare('a.luks', 's2')).toMatchObject(LOCKED);
    // Erased as qemu erases: count and salt zeroed, the key material overwritten.
    const after = readFileSync(s.path('a.luks'));
    const header = parseHeader(after);
    expect(header.slots[0]).toMatchObject({ active: false, iterations: 0 });
    expect([...header.slots[0]!.salt]).toEqual(new Array(32).fill(0));
    const material = header.slots[0]!.keyOffsetSector * SECTOR_SIZE;
    expect(after.subarray(material, material + 4096).equals(before.subarray(material, material + 4096))).toBe(false);
  });

  it('--force erases the last slot and overwrites an active one, as qemu-img does', async () => {
    for (const tool of ['qemu', 'ours'] as const) {
      const image = `force-${tool}.luks`;
      copyFileSync(s.path('qemu.luks'), s.path(image));
      // Ours: the static build here (its bundled modules), the modular one elsewhere.
      const run = (...args: string[]) => (tool === 'qemu' ? s.qemuImgResult(...args) : s.ours(executable('img-tool', 'static'), ...args));
      expect(await run(...amend('state=active,new-secret=s1,keyslot=0,iter-time=10', image, '--force'))).toMatchObject({ code: 0 });
      expect(activeSlots(image)).toEqual([0]);
      expect(qemuCompare(image, 's1')).toEqual(IDENTICAL);
      expect(qemuCompare(image, 's0')).toMatchObject(LOCKED);
      expect(await run(...amendWith('s1', 'state=inactive,keyslot=0', image, '--force'))).toMatchObject({ code: 0 });
      expect(activeSlots(image)).toEqual([]);
    }
  });
});

describe('key slots amended by qemu-img, read here', () => {
  it('a slot qemu-img adds opens here; one it erases no longer does', async () => {
    copyFileSync(s.path('ours.luks'), s.path('b.luks'));
    s.qemuImg(...amend('state=active,new-secret=s1,iter-time=10', 'b.luks'));
    expect(await oursCompare('b.luks', 's1')).toEqual(IDENTICAL);
    expect(await oursCompare('b.luks', 's0')).toEqual(IDENTICAL);
    s.qemuImg(...amend('state=inactive,keyslot=0', 'b.luks'));
    expect(await oursCompare('b.luks', 's1')).toEqual(IDENTICAL);
    const refused = ['compare', ...OBJECTS, '--image-opts', opts('b.luks'), 'driver=raw,file.filename=frag.raw'];
    expect(await s.ours(exe(), ...refused)).toEqual(s.qemuImgResult(...refused));
  });
});

describe('refusals, in qemu-img\'s words, the image untouched', () => {
  it('wrong combinations, indexes, secrets and options', async () => {
    // qemu.luks: slot 0 active (s0), the others free.
    await expectRefusedAlike(s, exe(), 'qemu.luks', [
      amend('state=active', 'IMAGE'),
      amend('state=active,new-secret=s1,old-secret=s0', 'IMAGE'),
      amend('state=inactive', 'IMAGE'),
      amend('state=inactive,new-secret=s1', 'IMAGE'),
      amend('state=inactive,keyslot=1,iter-time=10', 'IMAGE'),
      amend('new-secret=s1', 'IMAGE'),
      amend('state=foo', 'IMAGE'),
      amend('state=inactive,old-secret=s0', 'IMAGE'),
      amend('state=inactive,keyslot=0', 'IMAGE'),
      amend('state=inactive,keyslot=1', 'IMAGE'),
      amend('state=inactive,keyslot=9', 'IMAGE'),
      amend('state=inactive,keyslot=-1', 'IMAGE'),
      amend('state=active,new-secret=s1,keyslot=0', 'IMAGE'),
      amend('state=active,new-secret=s1,keyslot=8', 'IMAGE'),
      amend('state=active,new-secret=s1,keyslot=-1', 'IMAGE'),
      amend('state=active,new-secret=s9', 'IMAGE'),
      amend('state=inactive,old-secret=s1', 'IMAGE'),
      amend('state=inactive,old-secret=s9', 'IMAGE'),
      amend('state=inactive,keyslot=0,old-secret=s1', 'IMAGE'),
      amend('state=active,new-secret=s1,cipher-alg=aes-128', 'IMAGE'),
      amend('state=active,new-secret=s1,iter-time=abc', 'IMAGE'),
      amend('state=active,new-secret=s1,bogus=1', 'IMAGE'),
      ['amend', ...OBJECTS, '-o', 'state=active,new-secret=s1', 'IMAGE'],
      ['amend', ...OBJECTS, '-o', 'state=active,new-secret=s1', '--image-opts', opts('IMAGE', 's1')],
    ]);
  });

  it('all eight slots in use; -o help with and without the format named', async () => {
    copyFileSync(s.path('ours.luks'), s.path('full.luks'));
    for (let slot = 1; slot < 8; slot++) expect(await s.ours(exe(), ...amend('state=active,new-secret=s1,iter-time=1', 'full.luks'))).toMatchObject({ code: 0 });
    expect(activeSlots('full.luks')).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await expectRefusedAlike(s, exe(), 'full.luks', [amend('state=active,new-secret=s2', 'IMAGE')]);
    // Named format: help without opening (no such file, or none named); unnamed: the image is opened first, so its secret is needed.
    const helps = [
      ['amend', '-f', 'luks', '-o', 'help', 'missing.luks'],
      ['amend', '-f', 'luks', '-o', 'help'],
      ['amend', '-f', 'nosuch', '-o', 'help', 'full.luks'],
      ['amend', ...OBJECTS, '-o', 'help', '--image-opts', opts('full.luks')],
      ['amend', '-o', 'help', 'full.luks'],
    ];
    for (const args of helps) {
      expect({ args, ...(await s.ours(exe(), ...args)) }).toEqual({ args, ...s.qemuImgResult(...args) });
    }
  });

  it('an iter-time whose PBKDF2 count would exceed what opening accepts is refused before anything is written', async () => {
    copyFileSync(s.path('qemu.luks'), s.path('slow.luks'));
    const result = await s.ours(exe(), ...amend('state=active,new-secret=s1,iter-time=100000000', 'slow.luks'));
    expect(result).toMatchObject({ code: 1, stderr: expect.stringContaining('iter-time=100000000 needs') });
    expect(readFileSync(s.path('slow.luks')).equals(readFileSync(s.path('qemu.luks')))).toBe(true);
  });
});

describe('crash safety: every prefix of the write log', () => {
  const secrets: BlockSecrets = { secret: (id) => new TextEncoder().encode(PASSWORDS[id]!) };
  const opens = async (bytes: Uint8Array, secret: string) => {
    try {
      await openVolume(new MemoryFile(bytes), { keySecret: secret, secrets });
      return true;
    } catch {
      return false;
    }
  };

  /** Run `amend` recording its writes; the writes (offset, length) in order, flushes as 'flush', and the file after each prefix. */
  function recorded(image: string, options: string): { trace: string[]; states: Uint8Array[] } {
    const log = s.path('amend.log');
    execFileSync(process.execPath, [exe(), ...amend(options, image)], { cwd: s.dir, env: { ...process.env, TESSERA_WRITE_LOG: log }, stdio: 'pipe' });
    const initial = new Uint8Array(readFileSync(s.path(`${image}.before`)));
    const states = [initial.slice()];
    const trace: string[] = [];
    let current = initial.slice();
    for (const op of readWriteLog(log).operations.filter((op) => op.file === image)) {
      // (amend's own flush after the driver's may follow: consecutive flushes count once.)
      if (op.kind === 'flush' && trace.at(-1) !== 'flush') trace.push('flush');
      if (op.kind !== 'write') continue;
      trace.push(op.offset === 0 ? 'header' : 'material');
      current = current.slice();
      current.set(op.data, op.offset);
      states.push(current);
    }
    execFileSync('rm', ['-f', log]);
    return { trace, states };
  }

  it('adding: material, flush, header; erasing: header, flush, material; the remaining secret opens every state', async () => {
    copyFileSync(s.path('ours.luks'), s.path('crash.luks'));
    copyFileSync(s.path('crash.luks'), s.path('crash.luks.before'));
    const add = recorded('crash.luks', 'state=active,new-secret=s1,iter-time=10');
    expect(add.trace).toEqual(['material', 'flush', 'header', 'flush']);
    for (const state of add.states) expect(await opens(state, 's0')).toBe(true);
    // The new secret opens once the header is written, not before.
    expect(await Promise.all(add.states.map((state) => opens(state, 's1')))).toEqual([false, false, true]);
    expect(add.states.at(-1)!.subarray(0, HEADER_SIZE)).toEqual(new Uint8Array(readFileSync(s.path('crash.luks')).subarray(0, HEADER_SIZE)));

    copyFileSync(s.path('crash.luks'), s.path('crash.luks.before'));
    const erase = recorded('crash.luks', 'state=inactive,old-secret=s0');
    expect(erase.trace).toEqual(['header', 'flush', 'material', 'flush']);
    for (const state of erase.states) expect(await opens(state, 's1')).toBe(true);
    expect(await Promise.all(erase.states.map((state) => opens(state, 's0')))).toEqual([true, false, false]);
    expect(qemuCompare('crash.luks', 's1')).toEqual(IDENTICAL);
  });
});
