// The packages as a user gets them: `npm pack` of every package, installed from the tarballs into
// an empty project (and globally, with `npm install -g --prefix`), run with the machine's Node and
// with the official Node 22, 24 and 26 binaries from the registry.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomImage, startImageServer, type ImageServer } from '../../packages/modules/block-http/test/helpers/image-server.ts';
import { run, workspaceRoot, type RunResult } from '../test-support/executables.ts';
import { directoriesNamed, nodeBinary, npmInstall, packedTarballs, tarballName } from '../test-support/packed-packages.ts';

const execFileAsync = promisify(execFile);
const VERSION = JSON.parse(readFileSync(new URL('../../packages/img-tool/package.json', import.meta.url), 'utf8')).version as string;
const IMAGE_SIZE = 2 * 2 ** 20;

interface ListedModule {
  name: string;
  package: string;
  state: { status: string; origin?: string; path?: string; reason?: string; install?: string; searched?: string[]; kind?: string };
}
interface Report {
  stamp: string;
  directories: { origin: string; path: string }[];
  modules: ListedModule[];
}

let scratch: string;
let tarballs: Map<string, string>;
let server: ImageServer;
const tarball = (name: string) => tarballs.get(name)!;

/** `<node> <executable> ...args` with a chosen Node binary, without TESSERA_MODULE_DIR; never rejects on an exit code. */
const runWith = (node: string, file: string, args: readonly string[], env: Record<string, string> = {}): Promise<RunResult> => run(file, args, { node, env });

const imgTool = (nodeModules: string) => join(nodeModules, '@tessera/img-tool/dist/tessera-img.cjs');

async function listModules(node: string, exe: string): Promise<Report> {
  const result = await runWith(node, exe, ['--list-modules', '--output=json']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Report;
}

const moduleOf = (report: Report, name: string) => report.modules.find((m) => m.name === name)!;

/** Files in a tarball, without npm's `package/` prefix. */
function tarballFiles(path: string): string[] {
  return execFileSync('tar', ['tzf', path], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((f) => f.replace(/^package\//, ''))
    .sort();
}

function tarballJson(path: string, file: string): any {
  return JSON.parse(execFileSync('tar', ['xzOf', path, `package/${file}`], { encoding: 'utf8' }));
}

/**
 * The block-http tarball as a later release would ship it: version 0.2.0, its module file stamped
 * by another build, and a module body whose first act would be to write `marker`.
 */
async function otherBuildTarball(marker: string): Promise<{ tgz: string; moduleFile: string }> {
  const dir = mkdtempSync(join(scratch, 'other-build-'));
  execFileSync('tar', ['xzf', tarball('@tessera/block-http'), '-C', dir]);
  const pkgDir = join(dir, 'package');
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ ...pkg, version: '0.2.0' }, null, 2));
  const moduleFile = join(pkgDir, 'dist/block-http.cjs');
  const [header, ...body] = readFileSync(moduleFile, 'utf8').split('\n');
  const otherStamp = 'f'.repeat(64);
  const trap = `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'module code ran');`;
  writeFileSync(moduleFile, [header!.replace(/stamp=[0-9a-f]{64}/, `stamp=${otherStamp}`), trap, ...body].join('\n'));
  await execFileAsync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: pkgDir });
  return { tgz: join(dir, tarballName('@tessera/block-http', '0.2.0')), moduleFile };
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'tessera-packed-'));
  tarballs = await packedTarballs();
  server = await startImageServer(randomImage(IMAGE_SIZE));
}, 300_000);

afterAll(async () => {
  await server?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('each module package holds its built, stamped file and licence; each executable everything it runs and no module dependency', () => {
    // Every loadable module of either executable.
    const loadable = new Set(
      ['img-tool', 'emulator'].flatMap((app) =>
        Object.entries(JSON.parse(readFileSync(join(workspaceRoot, 'packages', app, 'package.json'), 'utf8')).tessera.modules as Record<string, string>)
          .filter(([, linkage]) => linkage === 'loadable')
          .map(([name]) => name),
      ),
    );
    expect(loadable.size).toBeGreaterThan(3);
    for (const name of loadable) {
      const files = tarballFiles(tarball(`@tessera/${name}`));
      expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', `dist/${name}.cjs`]));
      expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
      // A module file may be megabytes (block-rbd carries its FFI addon): room for the whole file.
      const head = execFileSync('tar', ['xzOf', tarball(`@tessera/${name}`), `package/dist/${name}.cjs`], { maxBuffer: 64 * 2 ** 20 }).subarray(0, 200).toString();
      expect(head).toMatch(new RegExp(`^/\\*! tessera-module name=${name} stamp=[0-9a-f]{64} \\*/`));
      const pkg = tarballJson(tarball(`@tessera/${name}`), 'package.json');
      // Third-party code is bundled into the module file: installing the package fetches nothing more.
      expect(pkg.dependencies ?? {}).toEqual({});
      expect(pkg.engines.node).toMatch(/^>=20/);
    }
    expect(tarballFiles(tarball('@tessera/block-http'))).toContain('dist/THIRD-PARTY-LICENSES.txt');

    const img = tarballFiles(tarball('@tessera/img-tool'));
    expect(img).toEqual(expect.arrayContaining(['LICENSE', 'dist/tessera-img.cjs', 'dist/tessera-img.ofd-lock.node']));
    expect(img.filter((f) => /^dist\/tessera-img\.[0-9a-f]{16}\.(cjs|code-cache)$/.test(f))).toHaveLength(2);
    expect(img.filter((f) => /^dist\/tessera-img\.[0-9a-f]{16}\.convert\.code-cache$/.test(f))).toHaveLength(1); // the writing commands' cache
    const emulator = tarballFiles(tarball('@tessera/emulator'));
    expect(emulator).toEqual(expect.arrayContaining(['LICENSE', 'dist/tessera.mjs', 'dist/tessera.ofd-lock.node']));
    for (const name of ['@tessera/img-tool', '@tessera/emulator']) {
      const pkg = tarballJson(tarball(name), 'package.json');
      expect(pkg.engines.node).toMatch(/^>=20/);
      expect(Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith('@tessera/') || d === 'undici' || d === 'ws')).toEqual([]);
    }
    // v86 is the emulator's own copy in dist/ (with its licence), not an npm dependency that Node
    // would resolve through node_modules.
    expect(tarballJson(tarball('@tessera/emulator'), 'package.json').dependencies ?? {}).toEqual({});
    expect(emulator).toEqual(expect.arrayContaining(['dist/tessera.deps/v86/LICENSE', 'dist/tessera.deps/v86/build/libv86.mjs', 'dist/tessera.deps/v86/build/v86.wasm']));
  });
});

describe('tessera-img installed from its tarball into an empty project', () => {
  let project: string;
  let nodeModules: string;

  beforeAll(async () => {
    project = join(scratch, 'project');
    nodeModules = join(project, 'node_modules');
    await npmInstall(project, [tarball('@tessera/img-tool')]);
  }, 300_000);

  it('alone: brings no undici; block-http is not installed, and http:// fails naming the package and the npm command', async () => {
    expect(directoriesNamed(nodeModules, 'undici')).toEqual([]);
    // A good block-http in a node_modules above the project: Node's resolution would walk up to
    // it; the executable looks only beside its own package, so it stays "not installed".
    mkdirSync(join(scratch, 'node_modules/@tessera'), { recursive: true });
    execFileSync('tar', ['xzf', tarball('@tessera/block-http'), '-C', join(scratch, 'node_modules/@tessera')]);
    renameSync(join(scratch, 'node_modules/@tessera/package'), join(scratch, 'node_modules/@tessera/block-http'));
    const install = `cd ${project} && npm install @tessera/block-http@${VERSION}`;
    const report = await listModules(process.execPath, imgTool(nodeModules));
    expect(report.directories.map((d) => d.origin)).toEqual(['package', 'distribution']);
    expect(report.directories[0]!.path).toBe(nodeModules);
    expect(moduleOf(report, 'block-http').state).toMatchObject({ status: 'missing', install });
    expect(moduleOf(report, 'block-http').state.searched![0]).toBe(join(nodeModules, '@tessera/block-http/dist/block-http.cjs'));
    expect(moduleOf(report, 'block-http').state.searched!.filter((p) => p.startsWith(join(scratch, 'node_modules')))).toEqual([]);
    const human = await runWith(process.execPath, imgTool(nodeModules), ['--list-modules']);
    expect(human.stdout).toMatch(new RegExp(`^block-http +block +loadable +missing: not installed; to install it: ${install.replace(/[.]/g, '\\.')}$`, 'm'));

    const info = await runWith(process.execPath, imgTool(nodeModules), ['info', server.url]);
    expect(info.code).toBe(1);
    expect(info.stderr).toContain(`tessera-img: Could not open '${server.url}': module block-http is not installed: install the package @tessera/block-http ${VERSION} of this build: ${install} (searched ${join(nodeModules, '@tessera/block-http/dist/block-http.cjs')}`);
    expect(server.requests).toEqual([]);
  });

  it('with the block-http tarball installed beside it: http:// works against a Range server', async () => {
    await npmInstall(project, [tarball('@tessera/block-http')]);
    expect(directoriesNamed(nodeModules, 'undici')).toEqual([]); // bundled into the module file
    const report = await listModules(process.execPath, imgTool(nodeModules));
    expect(moduleOf(report, 'block-http').state).toEqual({
      status: 'installed',
      origin: 'package',
      path: join(nodeModules, '@tessera/block-http/dist/block-http.cjs'),
    });
    const info = await runWith(process.execPath, imgTool(nodeModules), ['info', '--output=json', server.url]);
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ 'virtual-size': IMAGE_SIZE, format: 'raw' });
    expect(server.requests.some((r) => r.range !== undefined)).toBe(true);
  });

  it('a block-http tarball of another version and build is refused without running, naming both versions and the fixing command', async () => {
    const marker = join(scratch, 'other-build-ran');
    const other = await otherBuildTarball(marker);
    // Control: the planted body does write the marker when it runs.
    execFileSync(process.execPath, [other.moduleFile]);
    expect(existsSync(marker)).toBe(true);
    rmSync(marker);

    await npmInstall(project, [other.tgz]);
    const path = join(nodeModules, '@tessera/block-http/dist/block-http.cjs');
    const fix = `install that one: cd ${project} && npm install @tessera/block-http@${VERSION}`;
    const info = await runWith(process.execPath, imgTool(nodeModules), ['info', server.url]);
    expect(info.code).toBe(1);
    expect(info.stderr).toContain(`module block-http (${path}) refused: it is from another build (module stamp ${'f'.repeat(64)}, this executable's stamp `);
    expect(info.stderr).toContain(`@tessera/block-http 0.2.0 is not the @tessera/block-http ${VERSION} of this tessera-img ${VERSION}'s build, the only one it loads; ${fix}\n`);
    const report = await listModules(process.execPath, imgTool(nodeModules));
    expect(moduleOf(report, 'block-http').state).toMatchObject({ status: 'refused', origin: 'package', kind: 'not-this-build', path });
    expect(existsSync(marker)).toBe(false);

    // The command it names puts things right.
    await npmInstall(project, [tarball('@tessera/block-http')]);
    expect((await runWith(process.execPath, imgTool(nodeModules), ['info', server.url])).code).toBe(0);
  });

  // The same install on the maintained Node lines: the code cache Node 20 made is refused
  // cleanly (V8 checks its version), the image-lock addon (Node-API) loads, modules load.
  describe.each([22, 24, 26])('on Node %i', (major) => {
    let node: string;
    beforeAll(async () => {
      node = await nodeBinary(major);
    }, 300_000);

    it('lists and loads the installed module package; local images lock through the addon', async () => {
      expect(execFileSync(node, ['--version'], { encoding: 'utf8' })).toMatch(new RegExp(`^v${major}\\.`));
      const report = await listModules(node, imgTool(nodeModules));
      expect(moduleOf(report, 'block-http').state).toMatchObject({ status: 'installed', origin: 'package' });
      const info = await runWith(node, imgTool(nodeModules), ['info', '--output=json', server.url], { TESSERA_REPORT_CODE_CACHE: '1' });
      expect(info.code, info.stderr).toBe(0);
      expect(info.stderr).toBe('code cache: refused\n');
      expect(JSON.parse(info.stdout)).toMatchObject({ 'virtual-size': IMAGE_SIZE });
      const image = join(scratch, `node${major}.qcow2`);
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '1M']);
      // info of a qcow2 takes QEMU's image locks: it fails unless the addon loaded.
      const local = await runWith(node, imgTool(nodeModules), ['info', image]);
      expect(local).toMatchObject({ code: 0, stderr: '' });
      expect(local.stdout).toContain('file format: qcow2');
    });
  });
});

describe('tessera-img installed globally (npm install -g --prefix)', () => {
  it('finds block-http installed globally beside it; before that, names the global install command', async () => {
    const prefix = join(scratch, 'global prefix');
    await npmInstall(scratch, [tarball('@tessera/img-tool')], ['-g', '--prefix', prefix]);
    const bin = join(prefix, 'bin/tessera-img');
    const missing = await runWith(process.execPath, bin, ['info', server.url]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`npm install -g --prefix '${prefix}' @tessera/block-http@${VERSION} (searched`);
    await npmInstall(scratch, [tarball('@tessera/block-http')], ['-g', '--prefix', prefix]);
    const info = await runWith(process.execPath, bin, ['info', server.url]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toContain(`virtual size: 2 MiB (${IMAGE_SIZE} bytes)`);
  });
});
