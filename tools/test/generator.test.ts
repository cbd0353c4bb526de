// The build-time module list: its rules fail the build naming the module; its output is deterministic.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FixtureWorkspace, type FixtureApp, type FixtureModule } from '../test-support/fixture-workspace.ts';
import { readAppManifest, readModuleManifests } from '../module-list/manifests.mjs';
import { readCoreSignatures } from '../module-list/signatures.mjs';
import { resolveModuleList } from '../module-list/validate.mjs';

const source = (name: string) => `export default { name: '${name}', inits: [] };`;
const mod = (name: string, dependsOn: string[] = [], category?: string): FixtureModule => ({
  name,
  dependsOn,
  source: source(name),
  ...(category ? { category } : {}),
});

let workspaces: FixtureWorkspace[] = [];
afterEach(() => {
  for (const w of workspaces) w.remove();
  workspaces = [];
});
function workspace(modules: FixtureModule[], apps: FixtureApp[], version?: string): FixtureWorkspace {
  const w = new FixtureWorkspace(modules, apps, version);
  workspaces.push(w);
  return w;
}
const imgApp = (modules: Record<string, 'builtin' | 'loadable'>): FixtureApp => ({ name: 'img', accepts: ['block'], modules });

/** Run the generator as `nx build` does, and return its exit code and stderr. */
function generatorCli(w: FixtureWorkspace, app: string) {
  const result = spawnSync(
    process.execPath,
    [join(import.meta.dirname, '../module-list/generate.mjs'), '--root', w.root, '--app', `packages/${app}`, '--configuration', 'modular'],
    { encoding: 'utf8' },
  );
  return { code: result.status, stderr: result.stderr };
}

describe('the build fails, naming the module, when', () => {
  it('an app lists a module of a category it does not accept', () => {
    const w = workspace([mod('block-a'), mod('ui-web')], [imgApp({ 'block-a': 'builtin', 'ui-web': 'loadable' })]);
    const { code, stderr } = generatorCli(w, 'img');
    expect(code).toBe(1);
    expect(stderr).toContain('module ui-web is a ui module; this executable accepts only block modules');
  });

  it('a dependency is missing from the same list', () => {
    const w = workspace([mod('block-a', ['block-b']), mod('block-b')], [imgApp({ 'block-a': 'builtin' })]);
    const { code, stderr } = generatorCli(w, 'img');
    expect(code).toBe(1);
    expect(stderr).toContain("module block-a depends on block-b, which is not on this executable's list");
  });

  it('dependencies form a cycle', () => {
    const w = workspace(
      [mod('block-a', ['block-b']), mod('block-b', ['block-c']), mod('block-c', ['block-a'])],
      [imgApp({ 'block-a': 'builtin', 'block-b': 'builtin', 'block-c': 'builtin' })],
    );
    const { code, stderr } = generatorCli(w, 'img');
    expect(code).toBe(1);
    expect(stderr).toContain('module block-a is in a dependency cycle: block-a -> block-b -> block-c -> block-a');
  });

  it('two modules claim one name', () => {
    const w = workspace([mod('block-a')], [imgApp({ 'block-a': 'builtin' })]);
    w.write('packages/modules/block-a-copy/package.json', JSON.stringify({ name: '@other/thing', tessera: { name: 'block-a', category: 'block' } }));
    const { code, stderr } = generatorCli(w, 'img');
    expect(code).toBe(1);
    expect(stderr).toContain('two modules claim the name block-a: @fixture/block-a and @other/thing');
  });

  it('a listed module does not exist, or a builtin depends on a loadable one', () => {
    let w = workspace([mod('block-a')], [imgApp({ 'block-a': 'builtin', 'block-zzz': 'loadable' })]);
    expect(generatorCli(w, 'img').stderr).toContain('module block-zzz is on the list, but no package');
    w = workspace([mod('block-a', ['block-b']), mod('block-b')], [imgApp({ 'block-a': 'builtin', 'block-b': 'loadable' })]);
    expect(generatorCli(w, 'img').stderr).toContain('builtin module block-a depends on block-b, which is loadable');
  });

  it('a loadable module is not built, or was built from another tree', async () => {
    const w = workspace([mod('block-a')], [imgApp({ 'block-a': 'loadable' })]);
    expect(generatorCli(w, 'img').stderr).toContain('loadable module block-a has no built file');
    await w.buildModule('block-a');
    expect(generatorCli(w, 'img').code).toBe(0);
    const built = join(w.modulesDir, 'block-a.cjs');
    w.write('packages/modules/block-a/src/index.ts', `${source('block-a')}\n// changed`);
    // A changed tree is another build: its modules go to another stamp directory, not built yet.
    expect(generatorCli(w, 'img').stderr).toContain('loadable module block-a has no built file');
    mkdirSync(w.modulesDir, { recursive: true });
    copyFileSync(built, join(w.modulesDir, 'block-a.cjs'));
    expect(generatorCli(w, 'img').stderr).toContain("the built file of module block-a");
  });
});

describe('format signatures: the build fails, naming the module, when', () => {
  const format = (name: string, signatures: unknown[]): FixtureModule => ({ ...mod(name), provides: [`block-format:${name.slice(6)}`], signatures });
  const magic = (text: string) => [{ format: 'x', all: [{ at: 0, ascii: text }] }];
  // In process (the rules of validate.mjs on the manifests as read); the CLI's exit is the first case's.
  const fails = (modules: FixtureModule[], message: string, core?: unknown[]) => {
    const w = workspace(modules, [imgApp(Object.fromEntries(modules.map((m) => [m.name, 'builtin'])))]);
    if (core) w.write('packages/core/src/block/probe/unprovided-signatures.json', JSON.stringify(core));
    const app = readAppManifest(join(w.root, 'packages/img'));
    expect(() => resolveModuleList(app, readModuleManifests(w.root), 'modular', readCoreSignatures(w.root))).toThrow(message);
  };

  it('two modules claim the signature of one format, or one signature for two formats', () => {
    const w = workspace([format('block-x', magic('XX')), { ...format('block-y', magic('YY')), provides: ['block-format:x'] }], [imgApp({ 'block-x': 'builtin' })]);
    expect(generatorCli(w, 'img')).toEqual({ code: 1, stderr: expect.stringContaining('two modules claim the signature of format x: block-x and block-y') });
    fails(
      [format('block-x', magic('XX')), { ...format('block-y', magic('YY')), provides: ['block-format:x'] }],
      'two modules claim the signature of format x: block-x and block-y',
    );
    fails(
      [format('block-x', magic('XX')), format('block-y', [{ format: 'y', all: [{ at: 0, ascii: 'XX' }] }])],
      'block-x and block-y claim the same signature (x and y)',
    );
  });

  it("a module declares a signature core's table has too, or of a format it does not provide", () => {
    fails([format('block-x', magic('XX'))], "module block-x declares the signature of format x, which core's table", [{ format: 'x', all: [{ at: 0, ascii: 'Q' }] }]);
    fails([format('block-y', magic('XX'))], 'module block-y declares a signature of format x but does not provide block-format:x');
  });

  it('a signature is malformed: past the sector, not one byte a character, an unknown test, a bad pattern', () => {
    const bad = (test: unknown) => [format('block-x', [{ format: 'x', all: [test] }])];
    fails(bad({ at: 510, u32le: 1 }), 'module block-x: bad signature: u32le at 510 runs past the 512-byte sector');
    fails(bad({ at: 0, ascii: 'Ā' }), 'has a character above \\u00ff');
    fails(bad({ at: 0, u16le: 1 }), 'a test needs "at" and exactly one of ascii, u32le, u32be, latin1');
    fails(bad({ at: 0, latin1: '(' }), 'latin1 "(" is not a regular expression');
    fails(bad({ at: 4, u32be: { min: '0x1g' } }), 'is not a 32-bit number');
  });
});

describe('the list', () => {
  it("carries each module's signatures, and those of the tree's format modules not on it", async () => {
    const x = [{ format: 'x', all: [{ at: 0, ascii: 'X\u00fb' }, { at: 4, u32be: { min: 2 } }] }];
    const y = [{ format: 'y', in: 'tail', all: [{ at: 0, ascii: 'koly' }] }, { format: 'y', in: 'name', name: '.\\.y$' }];
    const w = workspace(
      [
        { ...mod('block-x'), provides: ['block-format:x'], signatures: x },
        { ...mod('block-y'), provides: ['block-format:y'], signatures: y },
      ],
      [imgApp({ 'block-x': 'builtin' })],
    );
    const list = await w.list('img');
    expect(list.modules.map((m) => [m.name, m.signatures])).toEqual([['block-x', x]]);
    expect(list.unlistedSignatures).toEqual(y);
    expect(readFileSync(w.generate('img'), 'utf8')).toMatch(/^[\x00-\x7f]*$/); // ASCII only
  });


  it('orders dependencies first and records linkage, file, sha256 and size', async () => {
    const w = workspace(
      [mod('block-top', ['block-mid']), mod('block-mid', ['block-base']), mod('block-base')],
      [imgApp({ 'block-top': 'loadable', 'block-mid': 'loadable', 'block-base': 'builtin' })],
    );
    for (const name of ['block-top', 'block-mid']) await w.buildModule(name);
    const list = await w.list('img');
    expect(list.modules.map((m) => [m.name, m.linkage])).toEqual([
      ['block-base', 'builtin'],
      ['block-mid', 'loadable'],
      ['block-top', 'loadable'],
    ]);
    const top = list.modules[2]!;
    const bytes = readFileSync(join(w.modulesDir, 'block-top.cjs'));
    const sha = (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex');
    expect(top.linkage === 'loadable' && [top.file, top.sha256, top.size]).toEqual(['block-top.cjs', sha, bytes.length]);
    expect(bytes.toString('utf8', 0, 200)).toContain(`stamp=${list.stamp}`);

    const statics = await w.list('img', 'static');
    expect(statics.modules.every((m) => m.linkage === 'builtin')).toBe(true);
    expect(statics.stamp).not.toBe(list.stamp);
  });
});

describe('the build stamp and determinism', () => {
  const modules = [mod('block-a')];
  const apps = [imgApp({ 'block-a': 'loadable' })];

  it('two builds of one tree and configuration are byte-identical', async () => {
    const w = workspace(modules, apps);
    const first = readFileSync(await w.buildModule('block-a', join(w.root, 'out1')));
    const second = readFileSync(await w.buildModule('block-a', join(w.root, 'out2')));
    expect(second.equals(first)).toBe(true);
    await w.buildModule('block-a');
    const listA = readFileSync(w.generate('img'));
    const listB = readFileSync(w.generate('img'));
    expect(listB.equals(listA)).toBe(true);
  });

  it('another tree or version gives another stamp; the same inputs give the same one', async () => {
    const stampOf = async (w: FixtureWorkspace) => {
      await w.buildModule('block-a');
      return (await w.list('img')).stamp;
    };
    const base = await stampOf(workspace(modules, apps));
    expect(await stampOf(workspace(modules, apps))).toBe(base); // another checkout of the same tree
    expect(await stampOf(workspace(modules, apps, '2.0.0'))).not.toBe(base);
    const changed = workspace(modules, apps);
    changed.write('packages/core/src/module/types.ts', 'export type Changed = 1;');
    expect(await stampOf(changed)).not.toBe(base);
  });
});
