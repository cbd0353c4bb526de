import { existsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { LoadableModuleEntry } from '../types.ts';

/** Where npm installed the executable's package, read from the executable's own path. */
export interface NpmLayout {
  /** The node_modules directory that holds the executable's package (and any module package beside it). */
  readonly nodeModules: string;
  /** `npm install -g --prefix P` (P/lib/node_modules) or a project's own node_modules. */
  readonly install: { readonly global: true; readonly prefix: string } | { readonly global: false; readonly project: string };
}

/**
 * The npm layout of an executable at `<node_modules>/[@scope/]<package>/<dir>/<file>`, or
 * undefined when it is not installed that way (a build tree, a distribution's tree). Only the
 * executable's path decides: nothing is resolved by walking up the tree as Node's resolution does.
 */
export function npmLayout(executableDir: string): NpmLayout | undefined {
  const packageDir = dirname(executableDir);
  let nodeModules = dirname(packageDir);
  if (basename(nodeModules).startsWith('@')) nodeModules = dirname(nodeModules);
  if (basename(nodeModules) !== 'node_modules') return undefined;
  const parent = dirname(nodeModules);
  // npm's global tree is <prefix>/lib/node_modules, with no package.json in lib/; a project has one.
  const global = basename(parent) === 'lib' && !existsSync(`${parent}/package.json`);
  return { nodeModules, install: global ? { global, prefix: dirname(parent) } : { global, project: parent } };
}

/** The command that installs this build's package of a module where the executable will find it. */
export function npmInstallCommand(entry: LoadableModuleEntry, layout: NpmLayout | undefined): string {
  const spec = `${entry.package}@${entry.version}`;
  if (!layout) return `npm install ${spec}`;
  if (!layout.install.global) return `cd ${shellWord(layout.install.project)} && npm install ${spec}`;
  // npm's default global prefix is the directory above Node's bin/.
  const defaultPrefix = dirname(dirname(process.execPath));
  const prefix = layout.install.prefix === defaultPrefix ? '' : `--prefix ${shellWord(layout.install.prefix)} `;
  return `npm install -g ${prefix}${spec}`;
}

/** A path as one shell word, so the command can be pasted as printed. */
function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
}
