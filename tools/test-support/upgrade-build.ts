// A new build, as a release makes it: a copy of the workspace's sources with every package at
// another version, built by the same tools (each module into its stamp directory and its package's
// dist/, the module lists, the executables). Its stamp differs from the workspace's. Shared by the
// upgrade tests of the distribution tree (test/install.test.ts) and of npm (test/npm-upgrade.test.ts).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { workspaceRoot } from './executables.ts';

export function buildUpgrade(tree: string, version: string): string {
  const skip = new Set(['node_modules', 'dist', 'dist-static', 'generated', 'test', '.nx', '.cache', '.git']);
  cpSync(workspaceRoot, tree, {
    recursive: true,
    filter: (source) => {
      const name = source.slice(source.lastIndexOf('/') + 1);
      return !skip.has(name) || source.endsWith('native/build');
    },
  });
  symlinkSync(join(workspaceRoot, 'node_modules'), join(tree, 'node_modules'));
  // Modules with dependencies of their own (block-http's undici) resolve them from the workspace's copy.
  for (const name of readdirSync(join(workspaceRoot, 'packages/modules'))) {
    const own = join(workspaceRoot, 'packages/modules', name, 'node_modules');
    if (existsSync(own)) symlinkSync(own, join(tree, 'packages/modules', name, 'node_modules'));
  }
  const modules = readdirSync(join(tree, 'packages/modules')).map((name) => `packages/modules/${name}/package.json`);
  for (const pkg of ['packages/core/package.json', 'packages/emulator/package.json', 'packages/img-tool/package.json', ...modules]) {
    const path = join(tree, pkg);
    writeFileSync(path, readFileSync(path, 'utf8').replace('"version": "0.1.0"', `"version": "${version}"`));
  }
  const vite = join(workspaceRoot, 'node_modules/vite/bin/vite.js');
  const run = (args: string[], cwd: string) => {
    const result = spawnSync(process.execPath, args, { cwd, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${args.join(' ')} in ${cwd} failed:\n${result.stdout}${result.stderr}`);
  };
  // Every loadable module either executable lists: the lists are generated only when all are built.
  const loadable = new Set(
    ['emulator', 'img-tool'].flatMap((app) =>
      Object.entries(JSON.parse(readFileSync(join(tree, 'packages', app, 'package.json'), 'utf8')).tessera.modules as Record<string, string>)
        .filter(([, linkage]) => linkage === 'loadable')
        .map(([name]) => name),
    ),
  );
  for (const module of loadable) run([vite, 'build'], join(tree, 'packages/modules', module));
  for (const app of ['emulator', 'img-tool']) {
    run([join(tree, 'tools/module-list/generate.mjs'), '--app', `packages/${app}`, '--configuration', 'modular', '--root', tree], tree);
    run([vite, 'build'], join(tree, 'packages', app));
  }
  return tree;
}
