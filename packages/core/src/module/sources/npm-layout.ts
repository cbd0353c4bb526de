import { existsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { LoadableModuleEntry } from '../types.ts';
import { shellWord } from './shell-word.ts';

/** Where npm installed the executable's package, read from the executable's own path. */
export interface NpmLayout {
  /** The node_modules directory that holds the executable's package (and any module package beside it). */
  readonly nodeModules: string;
  /**
   * `npm install -g --prefix P` (P/lib/node_modules) or a project's own node_modules. A function:
   * telling them apart costs a stat, paid only when a command must be printed, never at startup.
   */
  install(): { readonly global: true; readonly prefix: string } | { readonly global: false; readonly project: string };
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
  return {
    nodeModules,
    install() {
      // npm's global tree is <prefix>/lib/node_modules, with no package.json in lib/; a project has one.
      const global = basename(parent) === 'lib' && !existsSync(`${parent}/package.json`);
      return global ? { global: true, prefix: dirname(parent) } : { global: false, project: parent };
    },
  };
}

/** The command that installs this build's package of a module where the executable will find it. */
export function npmInstallCommand(entry: LoadableModuleEntry, layout: NpmLayout | undefined): string {
  const spec = `${entry.package}@${entry.version}`;
  if (!layout) return `npm install ${spec}`;
  const install = layout.install();
  if (!install.global) return `cd ${shellWord(install.project)} && npm install ${spec}`;
  // npm's default global prefix is the directory above Node's bin/.
  const defaultPrefix = dirname(dirname(process.execPath));
  const prefix = install.prefix === defaultPrefix ? '' : `--prefix ${shellWord(install.prefix)} `;
  return `npm install -g ${prefix}${spec}`;
}
