// tessera-img as the build leaves it: a launcher that runs its program with the V8 code cache made
// at build time (tools/build/code-cache.mjs). V8 must take the cache; without it, or with a
// damaged one, the tool must work the same; without its program it must say what is wrong.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configurations, executable, run } from '../test-support/executables.ts';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-code-cache-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const report = { TESSERA_REPORT_CODE_CACHE: '1' };

const PROGRAM = /^tessera-img\.[0-9a-f]{16}\.cjs$/;
const CACHE = /^tessera-img\.[0-9a-f]{16}\.code-cache$/;
/** The writing commands' cache (convert's workload); the quick commands get CACHE. */
const CONVERT_CACHE = /^tessera-img\.[0-9a-f]{16}\.convert\.code-cache$/;

/** A copy of the executable's directory, to break: the paths of its launcher, program and cache. */
function copyOf(configuration: (typeof configurations)[number], name: string) {
  const dir = join(scratch, `${configuration}-${name}`);
  cpSync(dirname(executable('img-tool', configuration)), dir, { recursive: true });
  const find = (pattern: RegExp) => join(dir, readdirSync(dir).find((entry) => pattern.test(entry))!);
  return { launcher: join(dir, 'tessera-img.cjs'), program: find(PROGRAM), cache: find(CACHE), convertCache: find(CONVERT_CACHE) };
}

/** An image to run `info` on: the program's whole open path runs. */
const image = join(scratch, 'disk.raw');
writeFileSync(image, new Uint8Array(1024 * 1024));
/** An image with data in it, for -c to compress. */
const data = join(scratch, 'data.raw');
writeFileSync(data, Uint8Array.from({ length: 256 * 1024 }, (_, at) => (at * 7) % 251));

describe.each(configurations)('the tessera-img launcher (%s)', (configuration) => {
  it('runs its program with the code cache made for it, and V8 takes the cache', async () => {
    const launcher = executable('img-tool', configuration);
    const files = readdirSync(dirname(launcher));
    expect(files.filter((file) => PROGRAM.test(file))).toHaveLength(1);
    expect(files.filter((file) => CACHE.test(file))).toHaveLength(1);
    expect(files.filter((file) => CONVERT_CACHE.test(file))).toHaveLength(1);
    const result = await run(launcher, ['info', image], { env: report });
    expect(result).toMatchObject({ code: 0, stderr: 'code cache: used\n' });
    expect(result.stdout).toContain('virtual size: 1 MiB');
  });

  it("runs a loadable module and Node's import() under the cache: vpc info, deflate", async () => {
    const launcher = executable('img-tool', configuration);
    const modules = await run(launcher, ['--list-modules', '--output=json'], { env: report });
    expect(modules.stderr).toBe('code cache: used\n');
    const vpc = (JSON.parse(modules.stdout) as { modules: { name: string; state: { status: string } }[] }).modules.find((m) => m.name === 'block-vpc')!;
    // Verified module bytes run as a script of their own (core's execute.ts); the static build has it built in.
    expect(vpc.state.status).toBe(configuration === 'static' ? 'builtin' : 'installed');
    const vhd = join(scratch, `${configuration}.vhd`);
    expect(spawnSync('qemu-img', ['create', '-q', '-f', 'vpc', vhd, '8M']).status).toBe(0);
    const info = await run(launcher, ['info', '--output=json', vhd], { env: report });
    expect(info).toMatchObject({ code: 0, stderr: 'code cache: used\n' });
    const theirs = JSON.parse(spawnSync('qemu-img', ['info', '--output=json', vhd], { encoding: 'utf8' }).stdout) as { 'virtual-size': number };
    expect(JSON.parse(info.stdout)).toMatchObject({ format: 'vpc', 'virtual-size': theirs['virtual-size'] });
    const compressed = join(scratch, `${configuration}.qcow2`);
    const convert = await run(launcher, ['convert', '-c', '-O', 'qcow2', data, compressed], { env: report }); // node:zlib, imported lazily
    expect(convert).toMatchObject({ code: 0, stderr: 'code cache: used\n' });
    const qemuImg = (...args: string[]) => spawnSync('qemu-img', args, { encoding: 'utf8' });
    expect(qemuImg('compare', '-f', 'raw', '-F', 'qcow2', data, compressed).status).toBe(0);
    expect(JSON.parse(qemuImg('check', '--output=json', compressed).stdout)).toMatchObject({ 'compressed-clusters': 4 });
  });

  it('gives the writing commands the cache made from convert, the others the quick one', async () => {
    // Each cache removed in turn: a command reports "missing" exactly when its own cache is gone.
    const noConvert = copyOf(configuration, 'no-convert-cache');
    rmSync(noConvert.convertCache);
    const noQuick = copyOf(configuration, 'no-quick-cache');
    rmSync(noQuick.cache);
    const target = (name: string) => join(scratch, `${configuration}-${name}.qcow2`);
    for (const [args, own] of [
      [['info', image], 'quick'],
      [['convert', '-O', 'qcow2', data, target('a')], 'convert'],
    ] as const) {
      const withoutConvert = await run(noConvert.launcher, args, { env: report });
      const withoutQuick = await run(noQuick.launcher, args, { env: report });
      expect([withoutConvert.code, withoutQuick.code], args.join(' ')).toEqual([0, 0]);
      expect([withoutConvert.stderr, withoutQuick.stderr], args.join(' ')).toEqual(
        own === 'quick' ? ['code cache: used\n', 'code cache: missing\n'] : ['code cache: missing\n', 'code cache: used\n'],
      );
    }
  });

  it('works the same without its cache, or with a damaged one', async () => {
    const expected = await run(executable('img-tool', configuration), ['info', '--output=json', image]);
    expect(expected.code).toBe(0);

    const missing = copyOf(configuration, 'missing');
    rmSync(missing.cache);
    expect(await run(missing.launcher, ['info', '--output=json', image], { env: report })).toEqual({ ...expected, stderr: 'code cache: missing\n' });

    for (const [name, damage] of [
      ['garbage', () => new Uint8Array(4096).fill(0x5a)],
      ['empty', () => new Uint8Array(0)],
    ] as const) {
      const copy = copyOf(configuration, name);
      writeFileSync(copy.cache, damage());
      expect(await run(copy.launcher, ['info', '--output=json', image], { env: report }), name).toEqual({ ...expected, stderr: 'code cache: refused\n' });
    }
  });

  it('without its program, fails naming the file and what to do', async () => {
    const copy = copyOf(configuration, 'no-program');
    rmSync(copy.program);
    const result = await run(copy.launcher, ['--version']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^tessera-img: cannot read its program .*tessera-img\.[0-9a-f]{16}\.cjs \(ENOENT\); reinstall tessera-img\n$/);
  });
});
