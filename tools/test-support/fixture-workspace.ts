// A throwaway workspace with made-up modules, built and listed by the real build tools
// (tools/build, tools/module-list), for testing the generator and the loader.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'vite';
import type { ModuleList } from '@tessera/core';
// @ts-expect-error: build tools are plain .mjs
import { builtModulesDir, moduleFileName } from '../build/paths.mjs';
// @ts-expect-error: build tools are plain .mjs
import { moduleViteConfig } from '../build/vite-module.mjs';
// @ts-expect-error: build tools are plain .mjs
import { generateModuleList } from '../module-list/generate.mjs';

export interface FixtureModule {
  readonly name: string;
  readonly category?: string;
  readonly dependsOn?: readonly string[];
  readonly provides?: readonly string[];
  /** Image-format signatures (`tessera.signatures`). */
  readonly signatures?: readonly unknown[];
  /** The module's src/index.ts. */
  readonly source: string;
}

export interface FixtureApp {
  readonly name: string;
  readonly accepts: readonly string[];
  readonly modules: Readonly<Record<string, 'builtin' | 'loadable'>>;
}

export class FixtureWorkspace {
  readonly root: string;

  constructor(modules: readonly FixtureModule[], apps: readonly FixtureApp[], version = '1.0.0') {
    this.root = mkdtempSync(join(tmpdir(), 'tessera-fixture-'));
    this.write('package.json', JSON.stringify({ name: 'fixture', private: true, version }));
    this.write('packages/core/package.json', JSON.stringify({ name: '@tessera/core', version }));
    for (const m of modules) {
      const pkg = {
        name: `@fixture/${m.name}`,
        version,
        tessera: {
          name: m.name,
          category: m.category ?? m.name.split('-')[0],
          dependsOn: m.dependsOn ?? [],
          provides: m.provides ?? [],
          ...(m.signatures ? { signatures: m.signatures } : {}),
        },
      };
      this.write(`packages/modules/${m.name}/package.json`, JSON.stringify(pkg, null, 2));
      this.write(`packages/modules/${m.name}/src/index.ts`, m.source);
    }
    for (const app of apps) {
      const pkg = {
        name: `@fixture/${app.name}`,
        version,
        nx: { name: app.name },
        tessera: { executable: app.name, accepts: app.accepts, modules: app.modules },
      };
      this.write(`packages/${app.name}/package.json`, JSON.stringify(pkg, null, 2));
    }
  }

  write(path: string, text: string): void {
    const full = join(this.root, path);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, text);
  }

  /** The module directory of the build the fixture's sources make now (packages/modules/dist/<stamp>). */
  get modulesDir(): string {
    return (builtModulesDir as (root: string) => string)(this.root);
  }

  /** Bundle a module as a loadable file, exactly as `nx build <module>` does. */
  async buildModule(name: string, outDir = this.modulesDir): Promise<string> {
    const config = moduleViteConfig(join(this.root, 'packages/modules', name), { root: this.root, outDir });
    await build({ ...config, configFile: false });
    return join(outDir, (moduleFileName as (name: string) => string)(name));
  }

  /** Run the generator for an app; returns the path of the generated list. */
  generate(app: string, configuration: 'modular' | 'static' = 'modular'): string {
    return generateModuleList({ root: this.root, app: `packages/${app}`, configuration }).outFile;
  }

  /** Generate and import an app's list. */
  async list(app: string, configuration: 'modular' | 'static' = 'modular'): Promise<ModuleList> {
    const file = this.generate(app, configuration);
    const url = `${pathToFileURL(file).href}?v=${Date.now()}`;
    return ((await import(/* @vite-ignore */ url)) as { moduleList: ModuleList }).moduleList;
  }

  /** Where an app's executable would be, for the build-time module directory. */
  executableUrl(app: string): string {
    return pathToFileURL(join(this.root, `packages/${app}/dist/${app}.mjs`)).href;
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
