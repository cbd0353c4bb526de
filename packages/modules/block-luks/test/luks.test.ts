// LUKS1 images: qemu-img's read here as qemu-img reads them (info, map, check, guest bytes),
// ours open in qemu-img with the same passphrase and compare identical, secrets and their
// failures say what qemu-img says, and the header parser survives mutated fields.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable } from '../../../../tools/test-support/executables.ts';
import { MemoryFile, fuzzDriver, scratch, writeFragmentedRaw, type Scratch } from '../../../../tools/test-support/format-interop.ts';
import type { BlockSecrets } from '../../../core/src/index.ts';
import { luksFormat } from '../src/driver.ts';
import { unlockMasterKey } from '../src/keyslots.ts';
import { parseHeader } from '../src/header.ts';
import { suiteOfHeader } from '../src/algorithms.ts';
import { IterationBudget } from '../src/pbkdf.ts';

const execFileAsync = promisify(execFile);
const SECRET = 'secret,id=sec0,data=correct horse';
const opts = (image: string, secret = 'sec0') => `driver=luks,key-secret=${secret},file.filename=${image}`;
/** The raw source as --image-opts (compare's option applies to both images). */
const FRAG = 'driver=raw,file.filename=frag.raw';
const exe = () => executable('img-tool', 'modular');

/**
 * Suites qemu-img makes here (each create spends ~1 s of qemu's PBKDF timing: few, made at once;
 * sha256 and sha512, whose timing flakes less than sha1's, see qemuCreate).
 */
const QEMU_MADE: Record<string, string> = {
  'xts-plain64': '',
  'cbc-essiv': 'cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv',
  'ecb-sha512': 'cipher-mode=ecb,hash-alg=sha512',
};
/** Suites made here, opened by qemu-img. */
const OURS: Record<string, string> = {
  default: '',
  'aes-128-xts-plain': 'cipher-alg=aes-128,ivgen-alg=plain,hash-alg=sha1',
  'aes-256-cbc-essiv': 'cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=sha256',
  'aes-128-ctr-plain64': 'cipher-alg=aes-128,cipher-mode=ctr,hash-alg=sha384',
};

let s: Scratch;

/**
 * qemu-img's LUKS create, retried only on its own flake: it times its PBKDF on the thread's CPU
 * clock and on this kind of loaded VM fails with "Unable to get accurate CPU usage" when a run
 * measures no CPU tick (here 1 in 8 creates with sha256, 1 in 2 with sha1).
 */
async function qemuCreate(args: string[]): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await execFileAsync('qemu-img', args, { cwd: s.dir })).stdout;
    } catch (error) {
      if (attempt === 8 || !String((error as { stderr?: string }).stderr).includes('Unable to get accurate CPU usage')) throw error;
    }
  }
}

beforeAll(async () => {
  s = scratch('luks');
  writeFragmentedRaw(s.path('frag.raw'), 3 * 2 ** 20);
  await Promise.all(
    Object.entries(QEMU_MADE).map(async ([name, options]) => {
      await qemuCreate(['convert', '--object', SECRET, '-O', 'luks', '-o', `key-secret=sec0,iter-time=10${options ? `,${options}` : ''}`, 'frag.raw', `qemu-${name}.luks`]);
    }),
  );
});
afterAll(() => s.remove());

describe('luks from qemu-img, read by tessera-img', () => {
  it.each(configurations)('xts-plain64 (%s): same info (human, JSON) without the passphrase, same map and check verdict with it', async (configuration) => {
    const image = 'qemu-xts-plain64.luks';
    const ours = (...args: string[]) => s.ours(executable('img-tool', configuration), ...args);
    for (const args of [['info', image], ['info', '--output=json', image]]) expect({ args, ...(await ours(...args)) }).toEqual({ args, ...s.qemuImgResult(...args) });
    for (const args of [['map', '--output=json'], ['check']]) {
      const full = [args[0]!, '--object', SECRET, ...args.slice(1), '--image-opts', opts(image)];
      expect({ args, ...(await ours(...full)) }).toEqual({ args, ...s.qemuImgResult(...full) });
    }
  });

  it.each(Object.keys(QEMU_MADE))('%s: the guest bytes are qemu-img\'s, and info shows its suite', async (name) => {
    const image = `qemu-${name}.luks`;
    const result = await s.ours(exe(), 'convert', '--object', SECRET, '--image-opts', opts(image), '-O', 'raw', `${name}.raw`);
    expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readFileSync(s.path(`${name}.raw`)).equals(readFileSync(s.path('frag.raw')))).toBe(true);
    const info = await s.ours(exe(), 'info', '--output=json', image);
    expect(JSON.parse(info.stdout)).toEqual(JSON.parse(s.qemuImg('info', '--output=json', image)));
  });
});

describe('luks written by tessera-img', () => {
  it.each(Object.entries(OURS))('%s: convert -O luks opens in qemu-img with the passphrase and compares identical', async (name, options) => {
    const image = `ours-${name}.luks`;
    const o = `key-secret=sec0,iter-time=10${options ? `,${options}` : ''}`;
    expect(await s.ours(exe(), 'convert', '--object', SECRET, '-O', 'luks', '-o', o, 'frag.raw', image)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(s.qemuImg('compare', '--object', SECRET, '--image-opts', opts(image), FRAG)).toBe('Images are identical.\n');
    // qemu's layout: the same payload offset and key-slot offsets as qemu-img's own image of the suite.
    const data = JSON.parse(s.qemuImg('info', '--output=json', image))['format-specific'].data;
    expect(data.slots[0]).toMatchObject({ active: true, 'key-offset': 4096, stripes: 4000 });
    expect(data.slots.slice(1).every((slot: { active: boolean }) => !slot.active)).toBe(true);
  });

  it('create -o help, the Formatting line with every option and measure are qemu-img\'s', async () => {
    // One suite (qemu-img's measure times a PBKDF too): aes-128, whose key-slot areas are half the default's.
    for (const options of ['key-secret=sec0,iter-time=10,cipher-alg=aes-128,cipher-mode=cbc']) {
      const measure = ['measure', '--output=json', '--object', SECRET, '-O', 'luks', '-o', options, 'frag.raw'];
      expect((await s.ours(exe(), ...measure)).stdout).toBe(await qemuCreate(measure));
    }
    const help = ['create', '-f', 'luks', '-o', 'help'];
    expect(await s.ours(exe(), ...help)).toEqual(s.qemuImgResult(...help));
    // An unknown secret: qemu-img prints the line, then fails at once (no PBKDF timing to wait for).
    const all = 'key-secret=nope,cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=sha256,hash-alg=sha256,iter-time=10';
    const args = ['create', '--object', SECRET, '-f', 'luks', '-o', all, 'all.luks', '1M'];
    expect(await s.ours(exe(), ...args)).toEqual(s.qemuImgResult(...args));
  });

  it('create, then writes here (qcow2 to luks with -n), read back by qemu-img; luks to qcow2; a json: filename', async () => {
    expect(await s.ours(exe(), 'create', '--object', SECRET, '-f', 'luks', '-o', 'key-secret=sec0,iter-time=10', 'made.luks', '3M')).toMatchObject({ code: 0, stderr: '' });
    // A new image's payload decrypts to noise (as qemu-img's): reading it is not zeroes.
    const fresh = await s.ours(exe(), 'compare', '--object', SECRET, '--image-opts', opts('made.luks'), FRAG);
    expect(fresh.code).toBe(1);
    s.qemuImg('convert', '-O', 'qcow2', 'frag.raw', 'frag.qcow2');
    expect(await s.ours(exe(), 'convert', '--object', SECRET, '-n', '--target-image-opts', 'frag.qcow2', opts('made.luks'))).toMatchObject({ code: 0, stderr: '' });
    expect(s.qemuImg('compare', '--object', SECRET, '--image-opts', opts('made.luks'), FRAG)).toBe('Images are identical.\n');
    expect(await s.ours(exe(), 'convert', '--object', SECRET, '--image-opts', opts('made.luks'), '-O', 'qcow2', 'back.qcow2')).toMatchObject({ code: 0, stderr: '' });
    expect(s.qemuImg('compare', 'back.qcow2', 'frag.raw')).toBe('Images are identical.\n');
    expect(s.qemuImgResult('check', 'back.qcow2')).toMatchObject({ code: 0 });
    // A json: filename names the same options as --image-opts.
    const json = 'json:{"driver":"luks","key-secret":"sec0","file":{"filename":"made.luks"}}';
    expect(await s.ours(exe(), 'convert', '--object', SECRET, '-O', 'raw', json, 'made.raw')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readFileSync(s.path('made.raw')).equals(readFileSync(s.path('frag.raw')))).toBe(true);
  });
});

describe('secrets and their failures, in qemu-img\'s words', () => {
  it('a missing passphrase, a wrong one, an unknown secret id', async () => {
    const image = 'qemu-xts-plain64.luks';
    const cases = [
      ['convert', '-O', 'raw', image, 'x.raw'],
      ['convert', '--object', 'secret,id=sec0,data=wrong', '--image-opts', opts(image), '-O', 'raw', 'x.raw'],
      ['convert', '--object', SECRET, '--image-opts', opts(image, 'sec1'), '-O', 'raw', 'x.raw'],
      ['create', '-q', '-f', 'luks', 'nokey.luks', '1M'],
      ['create', '-q', '-f', 'luks', '-o', 'key-secret=nope', 'nokey.luks', '1M'],
      ['create', '-q', '-f', 'luks', '--object', SECRET, '-o', 'key-secret=sec0,cipher-mode=gcm', 'nokey.luks', '1M'],
    ];
    for (const args of cases) expect({ args, ...(await s.ours(exe(), ...args)) }).toEqual({ args, ...s.qemuImgResult(...args) });
    // Refused before the file is made: nothing is left behind (qemu-img deletes its file).
    expect(existsSync(s.path('nokey.luks'))).toBe(false);
    expect(existsSync(s.path('x.raw'))).toBe(false);
    // qemu-img 7.2 aborts making aes-192 images (their key material is not whole sectors): refused here, saying why.
    const aes192 = await s.ours(exe(), 'create', '-q', '-f', 'luks', '--object', SECRET, '-o', 'key-secret=sec0,cipher-alg=aes-192,iter-time=10', 'aes192.luks', '1M');
    expect(aes192).toMatchObject({ code: 1, stderr: expect.stringContaining('aes-192') });
  });

  it('--object definitions qemu-img refuses are refused alike, in every command that takes them', async () => {
    writeFileSync(s.path('pass.txt'), 'correct horse');
    const image = 'qemu-xts-plain64.luks';
    const objects = [
      'secret,id=s1',
      'secret,data=x',
      'id=s1,data=x',
      'nosuchtype,id=s1',
      'secret,id=s1,data=x,file=pass.txt',
      'secret,id=s1,file=missing.txt',
      'secret,id=s1,data=x,format=hex',
      'secret,id=s1,data=x,bogus=1',
      'secret,id=1s,data=x',
    ];
    for (const object of objects) {
      // Every command defines its objects alike (one table): info for each, map and compare (exit 2) for two.
      const commands = objects.indexOf(object) < 2 ? [['info', image], ['map', image], ['compare', image, image]] : [['info', image]];
      for (const command of commands) {
        const args = [command[0]!, '--object', object, ...command.slice(1)];
        expect({ args, ...(await s.ours(exe(), ...args)) }).toEqual({ args, ...s.qemuImgResult(...args) });
      }
    }
    const twice = ['info', '--object', SECRET, '--object', SECRET, image];
    expect(await s.ours(exe(), ...twice)).toEqual(s.qemuImgResult(...twice));
    // file= and format=base64 give the same passphrase as data=.
    for (const object of ['secret,id=sec0,file=pass.txt', `secret,id=sec0,data=${Buffer.from('correct horse').toString('base64')},format=base64`]) {
      const args = ['compare', '--object', object, '--image-opts', opts(image), FRAG];
      expect(await s.ours(exe(), ...args)).toEqual({ code: 0, stdout: 'Images are identical.\n', stderr: '' });
    }
  });
});

describe('untrusted luks input', () => {
  const secrets: BlockSecrets = { secret: () => new TextEncoder().encode('correct horse') };
  /** An image made in-process (default suite, 64 KiB of payload): the tests below need no other. */
  let made: Uint8Array;
  beforeAll(async () => {
    const file = new MemoryFile(new Uint8Array(0));
    await luksFormat.create!(file, { size: 65536, formatOptions: { 'key-secret': 'sec0', 'iter-time': '10' }, secrets });
    made = file.bytes;
  });

  it('a LUKS2 header is refused by name, and so is a header with an impossible field', async () => {
    const bytes = readFileSync(s.path('qemu-xts-plain64.luks'));
    bytes.writeUInt16BE(2, 6);
    writeFileSync(s.path('luks2.luks'), bytes);
    const result = await s.ours(exe(), 'info', 'luks2.luks');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('LUKS version 2 is not supported: a LUKS2 header; qemu 7.2 and this program read LUKS1 only');
  });

  it('mutated headers (key-slot offsets, stripes, payload offset, iterations) give clear errors, no crash or hang', async () => {
    const image = made;
    // Header fields: strings, payload offset, key bytes, digest iterations, slot states, iterations, offsets, stripes.
    const slotFields = [0, 1, 2].flatMap((i) => [208 + i * 48, 212 + i * 48, 248 + i * 48, 252 + i * 48]);
    const fields = [6, 8, 40, 72, 104, 108, 164, ...slotFields];
    // The header alone (info): every field's checks.
    const parsed = await fuzzDriver(luksFormat, image, fields, { span: 592, openOptions: { metadataOnly: true } });
    expect(parsed.opened).toBeGreaterThan(20);
    expect(parsed.refused).toBeGreaterThan(20);
  });

  it('unlocking a hostile header stops at the iteration bound; a good one unlocks within it', async () => {
    const image = made;
    const header = parseHeader(image);
    const suite = suiteOfHeader(header.cipherName, header.cipherMode, header.hashSpec, header.keyBytes);
    const file = new MemoryFile(image);
    const password = secrets.secret('sec0');
    expect((await unlockMasterKey(file, header, suite, password)).length).toBe(64);
    const hostile = { ...header, slots: header.slots.map((slot) => ({ ...slot, active: true, iterations: 0xffffffff })) };
    await expect(unlockMasterKey(file, hostile, suite, password)).rejects.toMatchObject({ code: 'unsupported-feature', message: expect.stringContaining('more than the 16777216 this program accepts') });
    // Eight slots each under the per-count bound still stop at the per-open budget.
    const many = { ...header, slots: header.slots.map((slot) => ({ ...slot, active: true, iterations: 5000 })) };
    await expect(unlockMasterKey(file, many, suite, password, new IterationBudget(20_000))).rejects.toMatchObject({ code: 'unsupported-feature' });
  });
});
