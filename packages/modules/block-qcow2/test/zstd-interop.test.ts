// qcow2 with compression_type=zstd against qemu-img: create writes qemu-img's bytes; qemu-img's
// zstd-compressed images (convert -c of finely fragmented data) read back identical; ours pass
// `qemu-img check` and `compare`; `info` is qemu-img's; the codec module (block-codec-zstd) is
// opened only when a zstd cluster is read or written, never for `info` or zlib images; and both
// codec paths (the bundled WebAssembly on Node 20, node:zlib's zstd on Node 24) write images
// qemu-img reads.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurations, executable, run } from '../../../../tools/test-support/executables.ts';
import { fragmentedRaw } from '../../../../tools/test-support/fragmented-raw.ts';
import { nodeBinary } from '../../../../tools/test-support/packed-packages.ts';

let dir: string;
const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { cwd: dir, encoding: 'utf8' });
const MIB = 2 ** 20;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-qcow2-zstd-'));
  fragmentedRaw(join(dir, 'data.raw'), 3 * MIB, 16);
  // qemu-img's zstd images, 64 KiB and 4 KiB clusters (4 KiB ones pack several frames per host cluster).
  qemuImg('convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', 'data.raw', 'qemu-64k.qcow2');
  qemuImg('convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd,cluster_size=4096', 'data.raw', 'qemu-4k.qcow2');
  qemuImg('convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd,cluster_size=16k', 'data.raw', 'qemu-16k.qcow2');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CODEC_FILE = 'block-codec-zstd.cjs';

describe.each(configurations)('%s', (configuration) => {
  const exe = () => executable('img-tool', configuration);
  const img = (...args: string[]) => run(exe(), args, { cwd: dir });

  it('create -o compression_type=zstd writes qemu-img\'s bytes; v2 and unknown types are refused in its words', async () => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd', `qemu-new-${configuration}.qcow2`, '64M');
    const made = await img('create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd', `ours-new-${configuration}.qcow2`, '64M');
    expect(made.code).toBe(0);
    expect(readFileSync(join(dir, `ours-new-${configuration}.qcow2`))).toEqual(readFileSync(join(dir, `qemu-new-${configuration}.qcow2`)));
    if (configuration === 'static') return; // the refusals are the driver's, the same in both builds
    const v2 = await img('create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd,compat=0.10', 'v2.qcow2', '1M');
    expect(v2.code).toBe(1);
    expect(v2.stderr).toContain('Non-zlib compression type is only supported with compatibility level 1.1 and above (use version=v3 or greater)');
    const lz4 = await img('create', '-q', '-f', 'qcow2', '-o', 'compression_type=lz4', 'lz4.qcow2', '1M');
    expect(lz4.stderr).toContain("Parameter 'compression-type' does not accept value 'lz4'");
  });

  it.each(['qemu-64k', 'qemu-4k'])('%s: qemu-img\'s zstd image reads identical; info as qemu-img\'s', async (name) => {
    const out = `${name}-${configuration}.raw`;
    expect((await img('convert', '-O', 'raw', `${name}.qcow2`, out)).code).toBe(0);
    expect(readFileSync(join(dir, out)).equals(readFileSync(join(dir, 'data.raw')))).toBe(true);
    for (const args of [[], ['--output=json']]) {
      const ours = await img('info', ...args, `${name}.qcow2`);
      expect(ours.stdout).toBe(qemuImg('info', ...args, `${name}.qcow2`));
    }
    expect((await img('info', `${name}.qcow2`)).stdout).toContain('    compression type: zstd\n');
  });

  it('convert -c -o compression_type=zstd: qemu-img checks it clean and finds it identical', async () => {
    const out = `ours-c-${configuration}.qcow2`;
    const made = await img('convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd,cluster_size=16k', 'data.raw', out);
    expect(made.code).toBe(0);
    // As qemu-img's own convert -c: all but the clusters that do not shrink (random runs) compressed.
    const check = qemuImg('check', out);
    expect(check).toContain('No errors were found on the image.');
    expect(check).toContain(qemuImg('check', 'qemu-16k.qcow2').match(/\d+\.\d+% compressed clusters/)![0]);
    expect(qemuImg('compare', '-f', 'raw', '-F', 'qcow2', 'data.raw', out)).toBe('Images are identical.\n');
    expect(JSON.parse(qemuImg('info', '--output=json', out))['format-specific'].data['compression-type']).toBe('zstd');
  });

  it('a corrupt zstd frame is a clear error naming the cluster, not a crash', async () => {
    const image = readFileSync(join(dir, 'qemu-64k.qcow2'));
    // The first compressed cluster's frame: its magic, found after the metadata.
    const frame = image.indexOf(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), 3 * 65536);
    expect(frame).toBeGreaterThan(0);
    const bad = Buffer.from(image);
    bad[frame + 4] = 0x08; // reserved bit of the frame header
    writeFileSync(join(dir, `bad-${configuration}.qcow2`), bad);
    const result = await img('convert', '-O', 'raw', `bad-${configuration}.qcow2`, `bad-${configuration}.raw`);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/qcow2 image is corrupt: compressed cluster at \d+: zstd frame: reserved bit set in the frame header/);
  });
});

describe('the codec module loads only for zstd clusters (strace, modular build)', () => {
  const opened = async (...args: string[]) => {
    const trace = join(dir, 'trace.txt');
    const result = await run(executable('img-tool', 'modular'), args, { cwd: dir, wrapper: ['strace', '-f', '-qq', '-e', 'trace=openat', '-o', trace] });
    expect(result.code, result.stderr).toBe(0);
    return readFileSync(trace, 'utf8').includes(CODEC_FILE);
  };

  it('info of a zstd image and a zlib convert -c open no codec; reading or writing zstd clusters opens it', async () => {
    expect(await opened('info', 'qemu-64k.qcow2')).toBe(false);
    expect(await opened('convert', '-c', '-O', 'qcow2', 'data.raw', 'zlib.qcow2')).toBe(false);
    expect(await opened('convert', '-O', 'raw', 'zlib.qcow2', 'zlib.raw')).toBe(false);
    expect(await opened('convert', '-O', 'raw', 'qemu-64k.qcow2', 'lazy.raw')).toBe(true);
    expect(await opened('convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', 'data.raw', 'lazy.qcow2')).toBe(true);
  });
});

describe('both codec paths', () => {
  // The built module file, imported as is: which engine it picks on each Node.
  const engineOn = (node: string) => {
    const probe = join(dir, 'engine.mjs');
    const modules = execFileSync('node', ['-e', "import('./tools/build/paths.mjs').then((p) => console.log(p.builtModulesDir()))"], {
      cwd: join(import.meta.dirname, '../../../..'),
      encoding: 'utf8',
    }).trim();
    writeFileSync(probe, `const m = await import(${JSON.stringify(join(modules, CODEC_FILE))}); console.log((await m.zstdEngine()).name);\n`);
    return execFileSync(node, [probe], { encoding: 'utf8' }).trim();
  };

  it('Node 20 uses the bundled WebAssembly, Node 24 node:zlib; images written by each pass qemu-img check and compare', async () => {
    const node24 = await nodeBinary(24);
    expect(engineOn(process.execPath)).toBe(process.versions.node.startsWith('20.') ? 'wasm' : 'node:zlib');
    expect(engineOn(node24)).toBe('node:zlib');
    const made = await run(executable('img-tool', 'modular'), ['convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', 'data.raw', 'node24.qcow2'], {
      cwd: dir,
      node: node24,
    });
    expect(made.code, made.stderr).toBe(0);
    expect(qemuImg('check', 'node24.qcow2')).toContain('No errors were found on the image.');
    expect(qemuImg('compare', '-f', 'raw', '-F', 'qcow2', 'data.raw', 'node24.qcow2')).toBe('Images are identical.\n');
    const back = await run(executable('img-tool', 'modular'), ['convert', '-O', 'raw', 'qemu-4k.qcow2', 'node24.raw'], { cwd: dir, node: node24 });
    expect(back.code, back.stderr).toBe(0);
    expect(readFileSync(join(dir, 'node24.raw')).equals(readFileSync(join(dir, 'data.raw')))).toBe(true);
  }, 300_000);
});
