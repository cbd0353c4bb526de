// qcow2 with encryption (encrypt.format=luks, and legacy aes) against qemu-img: its images read
// here byte for byte with its `info` and `check`; ours (created, converted into, overwritten in
// place) pass `qemu-img check` and `compare` with the passphrase; secrets and refusals in its
// words; mutated LUKS headers inside the image are clear errors; and block-luks (which provides the
// encryption) is opened only for encrypted images (strace).
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable, run } from '../../../../tools/test-support/executables.ts';
import { scratch, writeFragmentedRaw, type Scratch } from '../../../../tools/test-support/format-interop.ts';

const execFileAsync = promisify(execFile);
const SECRET = 'secret,id=sec0,data=correct horse';
const opts = (image: string, secret = 'sec0') => `driver=qcow2,encrypt.key-secret=${secret},file.filename=${image}`;
const LUKS = 'encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10';
const exe = () => executable('img-tool', 'modular');

/** qemu-img images: the default suite, another suite with small clusters, and the legacy AES method. */
const QEMU_MADE: Record<string, string> = {
  'luks-xts': LUKS,
  'luks-cbc-essiv-4k': `${LUKS},encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,cluster_size=4096`,
  aes: 'encrypt.format=aes,encrypt.key-secret=sec0',
};

let s: Scratch;

/** qemu-img's LUKS create, retried only on its PBKDF timing flake ("Unable to get accurate CPU usage", see block-luks's test). */
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
  s = scratch('qcow2-crypt');
  writeFragmentedRaw(s.path('frag.raw'), 3 * 2 ** 20);
  // Another content of the same size, to overwrite images in place.
  const other = readFileSync(s.path('frag.raw')).reverse();
  writeFileSync(s.path('other.raw'), other);
  await Promise.all(Object.entries(QEMU_MADE).map(([name, o]) => qemuCreate(['convert', '--object', SECRET, '-O', 'qcow2', '-o', o, 'frag.raw', `qemu-${name}.qcow2`])));
});
afterAll(() => s.remove());

describe('encrypted qcow2 from qemu-img, read here', () => {
  it.each(configurations)('luks-xts (%s): the guest bytes, info (human, JSON) without the passphrase, check with it', async (configuration) => {
    const image = 'qemu-luks-xts.qcow2';
    const ours = (...args: string[]) => s.ours(executable('img-tool', configuration), ...args);
    expect(await ours('convert', '--object', SECRET, '--image-opts', opts(image), '-O', 'raw', `${configuration}.raw`)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readFileSync(s.path(`${configuration}.raw`)).equals(readFileSync(s.path('frag.raw')))).toBe(true);
    for (const args of [['info', image], ['info', '--output=json', image], ['check', '--object', SECRET, '--image-opts', opts(image)]]) {
      expect({ args, ...(await ours(...args)) }).toEqual({ args, ...s.qemuImgResult(...args) });
    }
  });

  it.each(['luks-cbc-essiv-4k', 'aes'])('%s: the guest bytes are qemu-img\'s; info and map --output=json are its', async (name) => {
    const image = `qemu-${name}.qcow2`;
    expect(await s.ours(exe(), 'convert', '--object', SECRET, '--image-opts', opts(image), '-O', 'raw', `${name}.raw`)).toMatchObject({ code: 0, stderr: '' });
    expect(readFileSync(s.path(`${name}.raw`)).equals(readFileSync(s.path('frag.raw')))).toBe(true);
    for (const args of [['info', '--output=json', image], ['map', '--output=json', '--object', SECRET, '--image-opts', opts(image)]]) {
      expect({ args, ...(await s.ours(exe(), ...args)) }).toEqual({ args, ...s.qemuImgResult(...args) });
    }
  });
});

describe('encrypted qcow2 written here', () => {
  it('create lays the image out as qemu-img does; convert into it, over qemu-img\'s images in place and over a snapshot\'s shared clusters: qemu-img checks them clean and compares identical', async () => {
    // The same layout as qemu-img's (header, refcounts, L1, then the LUKS header's clusters).
    const create = ['create', '-q', '-f', 'qcow2', '--object', SECRET, '-o', LUKS, 'made.qcow2', '16M'];
    expect(await s.ours(exe(), ...create)).toEqual({ code: 0, stdout: '', stderr: '' });
    await qemuCreate(['create', '-q', '-f', 'qcow2', '--object', SECRET, '-o', LUKS, 'made-by-qemu.qcow2', '16M']);
    expect(readFileSync(s.path('made.qcow2')).subarray(0, 512)).toEqual(readFileSync(s.path('made-by-qemu.qcow2')).subarray(0, 512));
    // New clusters (convert's fresh writes), then existing ones overwritten in place (luks and aes).
    const converted = ['convert', '--object', SECRET, '-O', 'qcow2', '-o', `${LUKS},cluster_size=16k,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv`, 'frag.raw', 'ours.qcow2'];
    expect(await s.ours(exe(), ...converted)).toEqual({ code: 0, stdout: '', stderr: '' });
    const targets: [string, string][] = [['ours.qcow2', 'frag.raw']];
    for (const name of ['luks-xts', 'aes']) {
      const overwrite = ['convert', '--object', SECRET, '-n', '--target-image-opts', 'other.raw', opts(`qemu-${name}.qcow2`)];
      expect(await s.ours(exe(), ...overwrite)).toEqual({ code: 0, stdout: '', stderr: '' });
      targets.push([`qemu-${name}.qcow2`, 'other.raw']);
    }
    // Extended L2 with an internal snapshot: the shared clusters are copied (decrypted from their
    // old place, encrypted for the new), the snapshot keeps the old content.
    const ext = ['convert', '--object', SECRET, '-O', 'qcow2', '-o', `${LUKS},extended_l2=on,cluster_size=32k`, 'frag.raw', 'ext.qcow2'];
    expect(await s.ours(exe(), ...ext)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await s.ours(exe(), 'snapshot', '-c', 's1', '--object', SECRET, '--image-opts', opts('ext.qcow2'))).toEqual({ code: 0, stdout: '', stderr: '' });
    // A write that ends inside a cluster: its other subclusters keep their (old, re-encrypted) data.
    const part = 1124 * 1024; // inside a 32k cluster that frag.raw fills with data
    writeFileSync(s.path('part.raw'), readFileSync(s.path('other.raw')).subarray(0, part));
    writeFileSync(s.path('ext-expected.raw'), Buffer.concat([readFileSync(s.path('other.raw')).subarray(0, part), readFileSync(s.path('frag.raw')).subarray(part)]));
    expect(await s.ours(exe(), 'convert', '--object', SECRET, '-n', '--target-image-opts', 'part.raw', opts('ext.qcow2'))).toEqual({ code: 0, stdout: '', stderr: '' });
    targets.push(['ext.qcow2', 'ext-expected.raw']);
    s.qemuImg('convert', '--object', SECRET, '-l', 'snapshot.name=s1', '--image-opts', opts('ext.qcow2'), '-O', 'raw', 'ext-s1.raw');
    expect(readFileSync(s.path('ext-s1.raw')).equals(readFileSync(s.path('frag.raw')))).toBe(true);
    for (const [image, raw] of targets) {
      expect(s.qemuImgResult('check', '--object', SECRET, '--image-opts', opts(image))).toMatchObject({ code: 0, stdout: expect.stringContaining('No errors were found on the image.') });
      expect(s.qemuImg('compare', '--object', SECRET, '--image-opts', opts(image), `driver=raw,file.filename=${raw}`)).toBe('Images are identical.\n');
    }
  });
});

describe('secrets and refusals, in qemu-img\'s words', () => {
  it('a missing, wrong or unknown secret, another format named; create without a secret, with a bad suite, with compression', async () => {
    const image = 'qemu-luks-xts.qcow2';
    const cases = [
      ['convert', '-O', 'raw', image, 'x.raw'],
      ['convert', '--object', 'secret,id=sec0,data=wrong', '--image-opts', opts(image), '-O', 'raw', 'x.raw'],
      ['convert', '--object', SECRET, '--image-opts', opts(image, 'sec1'), '-O', 'raw', 'x.raw'],
      ['convert', '--object', SECRET, '--image-opts', `${opts(image)},encrypt.format=aes`, '-O', 'raw', 'x.raw'],
      ['check', image],
      ['create', '-q', '-f', 'qcow2', '-o', 'encrypt.format=luks', 'nokey.qcow2', '1M'],
      ['create', '-q', '-f', 'qcow2', '-o', 'encrypt.format=luks,encrypt.key-secret=nope', 'nokey.qcow2', '1M'],
      ['create', '-q', '-f', 'qcow2', '--object', SECRET, '-o', `${LUKS},encrypt.cipher-alg=foo`, 'nokey.qcow2', '1M'],
      ['create', '-q', '-f', 'qcow2', '--object', SECRET, '-o', 'encrypt.key-secret=sec0', 'nokey.qcow2', '1M'],
      ['create', '-q', '-f', 'qcow2', '--object', SECRET, '-o', 'encrypt.format=aes,encrypt.key-secret=sec0,encrypt.hash-alg=sha1', 'nokey.qcow2', '1M'],
    ];
    for (const args of cases) expect({ args, ...(await s.ours(exe(), ...args)) }).toEqual({ args, ...s.qemuImgResult(...args) });
    // measure counts the LUKS header's clusters (its size from the suite), as qemu-img's.
    const measure = ['measure', '--output=json', '--object', SECRET, '-O', 'qcow2', '-o', `${LUKS},encrypt.cipher-alg=aes-128,cluster_size=4k`, 'frag.raw'];
    expect((await s.ours(exe(), ...measure)).stdout).toBe(await qemuCreate(measure));
    // qemu-img refuses -c before creating; here the driver refuses the first compressed cluster, in its words.
    const compressed = await s.ours(exe(), 'convert', '-c', '--object', SECRET, '-O', 'qcow2', '-o', LUKS, 'frag.raw', 'c.qcow2');
    expect(compressed).toMatchObject({ code: 1, stderr: expect.stringContaining('Compression and encryption not supported at the same time') });
  });
});

describe('untrusted encryption headers', () => {
  it('mutated extension and LUKS header fields inside the image: a clear error, no crash or hang', async () => {
    const good = readFileSync(s.path('qemu-luks-xts.qcow2'));
    // The extension follows the 112-byte v3 header: type, length, offset (8), size (8).
    const at = 112;
    expect(good.readUInt32BE(at)).toBe(0x0537be77);
    const luks = Number(good.readBigUInt64BE(at + 8));
    const mutations: [string, (b: Buffer) => void][] = [
      ['extension length', (b) => b.writeUInt32BE(8, at + 4)],
      ['unaligned header offset', (b) => b.writeBigUInt64BE(BigInt(luks + 512), at + 8)],
      ['header offset past the end', (b) => b.writeBigUInt64BE(1n << 40n, at + 8)],
      ['header length too small', (b) => b.writeBigUInt64BE(100n, at + 16)],
      ['header length huge', (b) => b.writeBigUInt64BE(1n << 50n, at + 16)],
      ['crypt method 7', (b) => b.writeUInt32BE(7, 32)],
      ['crypt method aes with the extension', (b) => b.writeUInt32BE(1, 32)],
      ['LUKS magic', (b) => (b[luks] = 0)],
      ['LUKS payload offset', (b) => b.writeUInt32BE(1, luks + 104)],
      ['key slot 0 stripes', (b) => b.writeUInt32BE(1, luks + 208 + 44)],
      ['key slot 0 material offset', (b) => b.writeUInt32BE(0xffffff, luks + 208 + 40)],
      ['key slot 0 iterations', (b) => b.writeUInt32BE(0xffffffff, luks + 208 + 4)],
    ];
    for (const [what, mutate] of mutations) {
      const bytes = Buffer.from(good);
      mutate(bytes);
      writeFileSync(s.path('mutated.qcow2'), bytes);
      const result = await s.ours(exe(), 'convert', '--object', SECRET, '--image-opts', opts('mutated.qcow2'), '-O', 'raw', 'mutated.raw');
      expect({ what, code: result.code, stderr: result.stderr }).toMatchObject({ what, code: 1, stderr: expect.stringMatching(/^tessera-img: Could not open '.*': \S/) });
      expect(result.stderr).not.toMatch(/TypeError|RangeError|at .*\.(m?js|ts):\d+/);
    }
  });
});

describe('block-luks loads only for encrypted images (strace, modular build)', () => {
  const opened = async (...args: string[]) => {
    const trace = join(s.dir, 'trace');
    const result = await run(exe(), args, { cwd: s.dir, wrapper: ['strace', '-f', '-qq', '-e', 'trace=openat', '-o', trace] });
    expect({ args, code: result.code }).toEqual({ args, code: 0 });
    const luks = readFileSync(trace, 'utf8').includes('block-luks.cjs');
    rmSync(trace);
    return luks;
  };

  it('info of a raw and a plain qcow2 and a plain convert open no block-luks; an encrypted image opens it', async () => {
    s.qemuImg('convert', '-O', 'qcow2', 'frag.raw', 'plain.qcow2');
    expect(await opened('info', 'frag.raw')).toBe(false);
    expect(await opened('info', 'plain.qcow2')).toBe(false);
    expect(await opened('convert', '-O', 'qcow2', 'frag.raw', 'plain2.qcow2')).toBe(false);
    expect(await opened('info', 'qemu-luks-xts.qcow2')).toBe(true);
  });
});
