// The image tool's list holds block modules only, so it never opens (or even stats) a display or
// network module, even with every module installed beside it; `info` on a local raw or qcow2 image
// opens no module file at all, and on an image of a loadable format exactly that format's module:
// probing matches the signatures the modules declare (compiled into the list), loading none of
// them to probe. File accesses are traced with strace.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FixtureWorkspace } from '../../../tools/test-support/fixture-workspace.ts';
import { configurations, executable, modulesDir, run, workspaceRoot } from '../../../tools/test-support/executables.ts';
import { makeDmg, sampleData } from '../../modules/block-dmg/test/dmg-fixture.ts';
import { luksFormat } from '../../modules/block-luks/src/driver.ts';
import { MemoryFile } from '../../../tools/test-support/format-interop.ts';

/** Formats whose drivers are loadable modules (block-<format>). */
const LOADABLE_FORMATS = ['vdi', 'qed', 'parallels', 'qcow', 'luks'];

let scratch: string;
let moduleDir: string;
let nonBlockFiles: string[];
let blockFiles: string[];

/** Every module of the repository, by its manifest. */
function repositoryModules(): { name: string; category: string }[] {
  const root = join(workspaceRoot, 'packages/modules');
  return readdirSync(root)
    .filter((dir) => existsSync(join(root, dir, 'package.json')))
    .map((dir) => JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')).tessera);
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'tessera-isolation-'));
  moduleDir = join(scratch, 'modules');
  mkdirSync(moduleDir);
  const installed: { name: string; category: string }[] = [];
  for (const m of repositoryModules()) {
    const file = join(modulesDir, `${m.name}.cjs`);
    if (!existsSync(file)) throw new Error(`${file} is missing: build every module first (npx nx run-many -t build)`);
    copyFileSync(file, join(moduleDir, `${m.name}.cjs`));
    installed.push(m);
  }
  // Display and network modules made by the real build tools, so that non-block modules are
  // installed even where the repository has few of its own.
  const fixtures = new FixtureWorkspace(
    ['ui-probe', 'net-probe'].map((name) => ({ name, source: `export default { name: '${name}', inits: [] };` })),
    [],
  );
  for (const name of ['ui-probe', 'net-probe']) {
    await fixtures.buildModule(name, moduleDir);
    installed.push({ name, category: name.split('-')[0]! });
  }
  fixtures.remove();
  nonBlockFiles = installed.filter((m) => m.category !== 'block').map((m) => `${m.name}.cjs`);
  blockFiles = installed.filter((m) => m.category === 'block').map((m) => `${m.name}.cjs`);
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', join(scratch, 'a.raw'), '4M']);
  // One image of each format with a module of its own, and qcow2 (builtin): probing must not load the others.
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(scratch, 'a.qcow2'), '4M']);
  execFileSync('bximage', ['-func=create', '-hd=10M', '-imgmode=growing', '-q', 'x.bochs'], { cwd: scratch, stdio: 'ignore' });
  execFileSync('create_compressed_fs', ['-q', '-B', '65536', 'a.raw', 'x.cloop'], { cwd: scratch, stdio: 'ignore' });
  writeFileSync(join(scratch, 'x.img'), makeDmg({ blocks: [[{ kind: 'zlib', data: sampleData(1, 8) }]] }).image); // a DMG found by its trailer, not its name
  for (const format of LOADABLE_FORMATS.filter((name) => name !== 'luks')) execFileSync('qemu-img', ['create', '-q', '-f', format, join(scratch, `a.${format}`), '1M']);
  // LUKS made by the driver in-process (qemu-img's LUKS create flakes on its PBKDF timing here); info needs no passphrase.
  const luks = new MemoryFile(new Uint8Array(0));
  await luksFormat.create!(luks, { size: 1 << 20, formatOptions: { 'key-secret': 's', 'iter-time': '10' }, secrets: { secret: () => new TextEncoder().encode('pw') } });
  writeFileSync(join(scratch, 'a.luks'), luks.bytes);
}, 120_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The file names (of installed module files) that a command touched, by strace. */
async function touchedModuleFiles(exe: string, args: string[]): Promise<{ touched: Set<string>; code: number | null }> {
  const trace = join(scratch, `trace-${Math.random().toString(36).slice(2)}`);
  const result = await run(exe, args, {
    cwd: scratch,
    env: { TESSERA_MODULE_DIR: moduleDir },
    wrapper: ['strace', '-f', '-qq', '-e', 'trace=%file', '-o', trace],
  });
  const text = readFileSync(trace, 'utf8');
  rmSync(trace);
  const touched = new Set([...nonBlockFiles, ...blockFiles].filter((file) => text.includes(file)));
  return { touched, code: result.code };
}

describe.each(configurations)('tessera-img (%s)', (configuration) => {
  it('the tracing sees module files when they are opened (control)', async () => {
    const { touched } = await touchedModuleFiles(executable('img-tool', configuration), ['--list-modules']);
    if (configuration === 'modular') expect(touched.has('block-http.cjs')).toBe(true);
    for (const file of nonBlockFiles) expect(touched.has(file)).toBe(false);
  });

  it.each([
    ['info', ['info', 'a.raw'], 0],
    ['info --output=json', ['info', '--output=json', 'a.raw'], 0],
    ['create', ['create', '-f', 'raw', 'b.raw', '1M'], 0],
    ['convert', ['convert', '-O', 'raw', 'a.raw', 'c.raw'], 0],
    ['compare', ['compare', 'a.raw', 'a.raw'], 0],
    ['info of a qcow2 image', ['info', 'a.qcow2'], 0],
    ['info of a missing file', ['info', 'nope.raw'], 1],
    ['an unknown protocol', ['info', 'gopher://127.0.0.1/x'], 1],
  ] as const)('%s opens no module file at all', async (_, args, exitCode) => {
    const { touched, code } = await touchedModuleFiles(executable('img-tool', configuration), [...args]);
    expect(code).toBe(exitCode);
    expect([...touched]).toEqual([]);
  });

  it.each([
    ['x.bochs', 'block-bochs'],
    ['x.cloop', 'block-cloop'],
    ['x.img', 'block-dmg'],
  ])('info %s: probing by declared signatures opens exactly %s', async (file, module) => {
    const { touched, code } = await touchedModuleFiles(executable('img-tool', configuration), ['info', file]);
    expect(code).toBe(0);
    expect([...touched]).toEqual(configuration === 'modular' ? [`${module}.cjs`] : []);
  });

  it('a vmdk image (probed) opens block-vmdk and no other module', async () => {
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', join(scratch, 'a.vmdk'), '4M']);
    const { touched, code } = await touchedModuleFiles(executable('img-tool', configuration), ['info', 'a.vmdk']);
    expect(code).toBe(0);
    expect([...touched]).toEqual(configuration === 'modular' ? ['block-vmdk.cjs'] : []);
  });

  it.each(LOADABLE_FORMATS)('a %s image, probed, opens exactly its format module', async (format) => {
    const { touched, code } = await touchedModuleFiles(executable('img-tool', configuration), ['info', `a.${format}`]);
    expect(code).toBe(0);
    expect([...touched]).toEqual(configuration === 'modular' ? [`block-${format}.cjs`] : []);
  });

  it('an http URL opens block-http and no non-block module', async () => {
    // Port 9 (discard) has no server here: the open fails after the module loaded.
    const { touched, code } = await touchedModuleFiles(executable('img-tool', configuration), ['info', 'http://127.0.0.1:9/x.raw']);
    expect(code).toBe(1);
    if (configuration === 'modular') expect([...touched]).toEqual(['block-http.cjs']);
    else expect([...touched]).toEqual([]);
  });

  it('an nbd URL opens block-nbd and no other module', async () => {
    // Port 9 (discard) has no server here: the open fails after the module loaded.
    const { touched, code } = await touchedModuleFiles(executable('img-tool', configuration), ['info', 'nbd://127.0.0.1:9/disk']);
    expect(code).toBe(1);
    expect([...touched]).toEqual(configuration === 'modular' ? ['block-nbd.cjs'] : []);
  });

  it('an ssh URL opens block-ssh and no other module', async () => {
    // Port 9 (discard) has no server here: the open fails after the module loaded.
    const { touched, code } = await touchedModuleFiles(executable('img-tool', configuration), ['info', 'ssh://127.0.0.1:9/x.raw']);
    expect(code).toBe(1);
    expect([...touched]).toEqual(configuration === 'modular' ? ['block-ssh.cjs'] : []);
  });

  it('an rbd: name opens block-rbd and no other module', async () => {
    // No monitor listens on port 9: connecting fails (within 1 s) after the module loaded.
    const { touched, code } = await touchedModuleFiles(executable('img-tool', configuration), ['info', 'rbd:rbd/x:mon_host=127.0.0.1\\:9:client_mount_timeout=1']);
    expect(code).toBe(1);
    expect([...touched]).toEqual(configuration === 'modular' ? ['block-rbd.cjs'] : []);
  });

  it('an iscsi URL opens block-iscsi and no other module', async () => {
    // Port 9 (discard) has no target here: the open fails after the module loaded.
    const { touched, code } = await touchedModuleFiles(executable('img-tool', configuration), ['info', 'iscsi://127.0.0.1:9/iqn.2026-12.org.tessera:none/1']);
    expect(code).toBe(1);
    expect([...touched]).toEqual(configuration === 'modular' ? ['block-iscsi.cjs'] : []);
  });
});

describe('tessera-img (modular) with a FIFO named block-http.cjs in TESSERA_MODULE_DIR', () => {
  let hostile: string;
  beforeAll(() => {
    hostile = join(scratch, 'hostile');
    mkdirSync(hostile);
    execFileSync('mkfifo', [join(hostile, 'block-http.cjs')]);
  });

  it('info of a local image opens no module file; an http URL and --list-modules refuse it at once, naming it', async () => {
    const exe = executable('img-tool', 'modular');
    const trace = join(scratch, 'trace-hostile');
    const info = await run(exe, ['info', 'a.raw'], {
      cwd: scratch,
      env: { TESSERA_MODULE_DIR: hostile },
      wrapper: ['strace', '-f', '-qq', '-e', 'trace=%file', '-o', trace],
    });
    expect(info.code).toBe(0);
    expect(readFileSync(trace, 'utf8')).not.toContain('block-http.cjs');

    const fifo = join(hostile, 'block-http.cjs');
    const http = await run(exe, ['info', 'http://127.0.0.1:9/x.raw'], { env: { TESSERA_MODULE_DIR: hostile }, timeoutMs: 20_000 });
    expect(http.code).toBe(1);
    expect(http.stderr).toBe(
      `tessera-img: Could not open 'http://127.0.0.1:9/x.raw': module block-http (${fifo}) refused: it is a FIFO, not a regular file; reinstall @tessera/block-http\n`,
    );
    const list = await run(exe, ['--list-modules'], { env: { TESSERA_MODULE_DIR: hostile }, timeoutMs: 20_000 });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^block-raw +block +builtin +builtin$`, 'm'));
    expect(list.stdout).toContain(`refused: ${fifo} (from TESSERA_MODULE_DIR): it is a FIFO, not a regular file`);
  });
});
