// The loader against real module files made by the real build tools in a fixture workspace.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Host, ModuleError, type InitFailure, type ModuleList } from '@tessera/core';
import { FixtureWorkspace, type FixtureModule } from '../../../tools/test-support/fixture-workspace.ts';

declare global {
  // Fixture modules record what they did here.
  var __tesseraLog: string[] | undefined;
}

/** A block module whose inits log their runs and register a protocol per scheme. */
const logging = (name: string, scheme: string, extra = ''): FixtureModule => ({
  name,
  provides: [`block-protocol:${scheme}`],
  source: `
    const log = (what) => (globalThis.__tesseraLog ??= []).push(what);
    log('${name}:top-level');
    ${extra}
    export default {
      name: '${name}',
      inits: [
        { subsystem: 'block', init: (block) => { log('${name}:block-1'); block.registerProtocol({ name: '${scheme}', schemes: ['${scheme}'], open: async () => { throw new Error('unused'); } }); } },
        { subsystem: 'block', init: () => log('${name}:block-2') },
        { subsystem: 'ui', init: () => log('${name}:ui') },
      ],
    };`,
});

const modules: FixtureModule[] = [
  logging('block-alpha', 'alpha'),
  { ...logging('block-beta', 'beta'), dependsOn: ['block-alpha'] },
  {
    name: 'block-throws',
    provides: ['block-protocol:throws'],
    source: `export default { name: 'block-throws', inits: [{ subsystem: 'block', init: () => { throw new Error('no backend library'); } }] };`,
  },
  {
    name: 'block-marker',
    provides: ['block-protocol:marker'],
    // Top-level code that leaves a trace: proof of whether any of the module ran.
    source: `
      import { writeFileSync } from 'node:fs';
      writeFileSync(process.env.TESSERA_TEST_MARKER, 'module code ran');
      export default { name: 'block-marker', inits: [{ subsystem: 'block', init: (b) => b.registerProtocol({ name: 'marker', schemes: ['marker'], open: async () => { throw new Error('unused'); } }) }] };`,
  },
  { ...logging('block-gone', 'gone') },
  {
    name: 'block-requirer',
    provides: ['block-protocol:requirer'],
    // What a module's require() gives: the ids come from an array, so the bundler leaves the calls to run time.
    source: `
      const ids = ['node:os', 'os', './block-alpha.cjs', '/etc/passwd', 'vitest', 'node:no-such-builtin'];
      const log = (what) => (globalThis.__tesseraLog ??= []).push(what);
      for (const id of ids) {
        try {
          log(id + ' ' + typeof require(id).platform);
        } catch (error) {
          log(id + ' ' + error.code + ': ' + error.message);
        }
      }
      // Lazy imports: of a builtin (the build makes it a require), of anything else (fails when called).
      const sibling = ['./block-alpha', 'cjs'].join('.'); // not a literal: the bundler leaves it to run time
      globalThis.__tesseraImports = Promise.allSettled([import('node:os'), import(sibling)]);
      export default { name: 'block-requirer', inits: [] };`,
  },
];
const app = {
  name: 'app',
  accepts: ['block'],
  modules: Object.fromEntries(modules.map((m) => [m.name, 'loadable' as const])),
};

let workspace: FixtureWorkspace;
let list: ModuleList;
let markerDir: string;
let marker: string;
let pristineMarkerModule: Buffer;

beforeAll(async () => {
  workspace = new FixtureWorkspace(modules, [app]);
  for (const m of modules) await workspace.buildModule(m.name);
  list = await workspace.list('app');
  pristineMarkerModule = readFileSync(join(workspace.modulesDir, 'block-marker.cjs'));
  rmSync(join(workspace.modulesDir, 'block-gone.cjs')); // listed, built, then not installed
  markerDir = mkdtempSync(join(tmpdir(), 'tessera-marker-'));
});

afterAll(() => {
  workspace?.remove();
  rmSync(markerDir, { recursive: true, force: true });
});

beforeEach(() => {
  globalThis.__tesseraLog = [];
  marker = join(markerDir, `marker-${Math.random().toString(36).slice(2)}`);
  process.env.TESSERA_TEST_MARKER = marker;
  writeFileSync(join(workspace.modulesDir, 'block-marker.cjs'), pristineMarkerModule);
});

function host(env: Record<string, string> = {}, failures: InitFailure[] = []): Host {
  return new Host(list, { executableUrl: workspace.executableUrl('app'), env, onInitFailure: (f) => failures.push(f) });
}

async function rejection(promise: Promise<unknown>): Promise<ModuleError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModuleError);
  return error as ModuleError;
}

describe('loading', () => {
  it('creating a host runs no module code', () => {
    host();
    expect(globalThis.__tesseraLog).toEqual([]);
  });

  it('loads dependencies first, runs each init once, in registration order', async () => {
    const h = host();
    expect(await h.require('block-protocol:beta')).toBe(true);
    // (Top-level code runs each time a host loads the module: counted here are the inits.)
    expect(globalThis.__tesseraLog!.filter((l) => !l.endsWith(':top-level'))).toEqual([
      'block-alpha:block-1',
      'block-alpha:block-2',
      'block-beta:block-1',
      'block-beta:block-2',
    ]);
    await h.require('block-protocol:beta');
    await h.require('block-protocol:alpha');
    await h.modules.load('block-beta');
    const inits = () => globalThis.__tesseraLog!.filter((l) => !l.endsWith(':top-level'));
    expect(inits()).toHaveLength(4);
    // A module's inits for another subsystem wait for that subsystem, then run once.
    h.initialize('ui');
    h.initialize('ui');
    expect(inits().slice(4)).toEqual(['block-alpha:ui', 'block-beta:ui']);
  });

  it("gives a module's code Node's builtins through require and import(), and nothing else", async () => {
    await host().modules.load('block-requirer');
    const refused = (id: string) =>
      `${id} refused: module block-requirer refused: it requires '${id}', which is not a Node builtin (a module file carries its own dependencies)`;
    expect(globalThis.__tesseraLog).toEqual([
      'node:os function',
      'os function',
      refused('./block-alpha.cjs'),
      refused('/etc/passwd'),
      refused('vitest'),
      refused('node:no-such-builtin'),
    ]);
    const [builtin, other] = await (globalThis as { __tesseraImports?: Promise<PromiseSettledResult<{ platform?: unknown }>[]> }).__tesseraImports!;
    expect(builtin).toMatchObject({ status: 'fulfilled', value: { platform: expect.any(Function) } });
    expect(other).toMatchObject({ status: 'rejected', reason: { code: 'ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING' } });
  });

  it('loads a module once even when asked concurrently', async () => {
    const h = host();
    await Promise.all([h.modules.load('block-alpha'), h.modules.load('block-alpha'), h.require('block-protocol:beta')]);
    h.initialize('block');
    expect(globalThis.__tesseraLog!.filter((l) => l === 'block-alpha:block-1')).toHaveLength(1);
  });

  it('finds modules through TESSERA_MODULE_DIR first', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'tessera-moddir-'));
    copyFileSync(join(workspace.modulesDir, 'block-alpha.cjs'), join(elsewhere, 'block-alpha.cjs'));
    const h = host({ TESSERA_MODULE_DIR: elsewhere });
    expect(h.modules.directories.map((d) => d.origin)).toEqual(['TESSERA_MODULE_DIR', 'distribution']);
    const report = await h.listModules();
    expect(report.modules.find((m) => m.name === 'block-alpha')!.state).toEqual({
      status: 'installed',
      path: join(elsewhere, 'block-alpha.cjs'),
      origin: 'TESSERA_MODULE_DIR',
    });
    rmSync(elsewhere, { recursive: true });
  });

  it('a feature no module provides is no error of the loader', async () => {
    expect(await host().require('block-protocol:nothing')).toBe(false);
  });
});

describe('refusing', () => {
  it('a name not on the list is refused without opening anything', async () => {
    writeFileSync(join(workspace.modulesDir, 'block-intruder.cjs'), `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`);
    const error = await rejection(host().modules.load('block-intruder'));
    expect(error.code).toBe('not-listed');
    expect(error.message).toContain('block-intruder');
    expect(existsSync(marker)).toBe(false);
  });

  it('a module from another build is refused before any of its code runs', async () => {
    // Control: the module as built does run its top-level code.
    await host().require('block-protocol:marker');
    expect(readFileSync(marker, 'utf8')).toBe('module code ran');
    rmSync(marker);

    const foreign = new FixtureWorkspace(modules, [app], '9.9.9');
    try {
      const foreignFile = await foreign.buildModule('block-marker');
      copyFileSync(foreignFile, join(workspace.modulesDir, 'block-marker.cjs'));
      const foreignStamp = /stamp=([0-9a-f]{64})/.exec(readFileSync(foreignFile, 'utf8'))![1]!;
      expect(foreignStamp).not.toBe(list.stamp);
      const error = await rejection(host().require('block-protocol:marker'));
      expect(error.code).toBe('refused');
      expect(error.message).toContain('block-marker');
      expect(error.message).toContain(foreignStamp);
      expect(error.message).toContain(list.stamp);
      expect(error.message).toContain('Only modules from the same build can be loaded');
      expect(existsSync(marker)).toBe(false);
    } finally {
      foreign.remove();
    }
  });

  it('a tampered module is refused, naming both hashes, before any of its code runs', async () => {
    const path = join(workspace.modulesDir, 'block-marker.cjs');
    const tampered = pristineMarkerModule.toString('utf8').replace('module code ran', 'module code RAN');
    writeFileSync(path, tampered);
    const error = await rejection(host().require('block-protocol:marker'));
    expect(error.code).toBe('refused');
    const entry = list.modules.find((m) => m.name === 'block-marker')!;
    expect(entry.linkage === 'loadable' && error.message.includes(`expected sha256 ${entry.sha256}`)).toBe(true);
    const actual = (await import('node:crypto')).createHash('sha256').update(tampered).digest('hex');
    expect(error.message).toContain(`actual sha256 ${actual}`);
    expect(existsSync(marker)).toBe(false);
  });

  it('a file that is no module at all is refused', async () => {
    writeFileSync(join(workspace.modulesDir, 'block-marker.cjs'), `import('node:fs').then(f => f.writeFileSync(process.env.TESSERA_TEST_MARKER, 'x'))`);
    const report = await host().listModules();
    const state = report.modules.find((m) => m.name === 'block-marker')!.state;
    expect(state.status).toBe('refused');
    expect(existsSync(marker)).toBe(false);
  });
});

describe('missing and failing modules', () => {
  it('a missing module is no error until its feature is asked for', async () => {
    const h = host();
    await h.require('block-protocol:alpha');
    const report = await h.listModules();
    // The fixture is neither a build tree (no nx.json), a distribution tree nor an npm install.
    expect(report.modules.find((m) => m.name === 'block-gone')!.state).toEqual({
      status: 'missing',
      searched: [join(workspace.modulesDir, 'block-gone.cjs')],
      install: `put the file block-gone.cjs of build ${basename(workspace.modulesDir)} in ${workspace.modulesDir}`,
    });
    const error = await rejection(h.require('block-protocol:gone'));
    expect(error.code).toBe('missing');
    expect(error.message).toContain('block-gone');
    expect(error.message).toContain('@fixture/block-gone'); // the npm package that provides it
  });

  it("the missing module's advice fits the layout: the build tree builds it, a distribution tree installs its part", async () => {
    const root = join(workspace.modulesDir, '../../../..');
    const gone = async () => (await host().listModules()).modules.find((m) => m.name === 'block-gone')!.state as { install: string };
    writeFileSync(join(root, 'nx.json'), '{}');
    try {
      expect((await gone()).install).toBe(`cd ${root} && npx nx build block-gone`);
      const message = (await rejection(host().require('block-protocol:gone'))).message;
      expect(message).toContain(`module block-gone is not installed: build it in this build tree: cd ${root} && npx nx build block-gone (searched `);
    } finally {
      rmSync(join(root, 'nx.json'));
    }
    // tools/install.mjs's tree: lib/tessera/{modules/dist/<stamp>,parts}; here packages/ plays lib/tessera.
    const parts = join(workspace.modulesDir, '../../../parts');
    mkdirSync(parts);
    try {
      const prefix = join(parts, '../../..');
      expect((await gone()).install).toBe(
        `your distribution's package tessera-modules-block-gone of version 1.0.0, or, from the Tessera 1.0.0 tree this was built from: ` +
          `node tools/install.mjs --prefix ${prefix} --modules block-gone`,
      );
      const message = (await rejection(host().require('block-protocol:gone'))).message;
      expect(message).toContain('module block-gone is not installed: install the part tessera-modules-block-gone of this build (');
      expect(message).not.toContain('npm install');
    } finally {
      rmSync(parts, { recursive: true });
    }
  });

  it('an init that throws is reported by name; the rest goes on; asking for its feature fails', async () => {
    const failures: InitFailure[] = [];
    const h = host({}, failures);
    await h.modules.load('block-throws');
    await h.modules.load('block-alpha');
    h.initialize('block');
    expect(failures.map((f) => [f.module, (f.error as Error).message])).toEqual([['block-throws', 'no backend library']]);
    expect(globalThis.__tesseraLog).toContain('block-alpha:block-1'); // the others went on
    const error = await rejection(h.require('block-protocol:throws'));
    expect(error.code).toBe('init-failed');
    expect(error.message).toContain('block-throws');
    expect(error.message).toContain('no backend library');
  });
});
