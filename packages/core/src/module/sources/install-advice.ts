import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LoadableModuleEntry, ModuleList } from '../types.ts';
import { npmInstallCommand, type NpmLayout } from './npm-layout.ts';
import { shellWord } from './shell-word.ts';

/** What a user does to install this build's copy of a missing module, in the executable's layout. */
export interface InstallAdvice {
  /** What to do, as a clause: `install the package @tessera/block-http 0.1.0 of this build`. */
  readonly action: string;
  /** How: the exact command (in an npm layout and a build tree), or the distribution's way. */
  readonly how: string;
}

/**
 * The layout is read from the executable's place, and only when advice is asked for (a missing
 * module), never at startup: an npm install; a distribution tree (tools/install.mjs: the modules
 * directory at `lib/tessera/modules/dist/` beside `lib/tessera/parts/`); the build tree (nx.json
 * at the root above `packages/modules/dist/`).
 */
export function installAdvice(entry: LoadableModuleEntry, list: ModuleList, layout: NpmLayout | undefined, stampDir: string): InstallAdvice {
  if (layout) {
    return { action: `install the package ${entry.package} ${entry.version} of this build`, how: npmInstallCommand(entry, layout) };
  }
  const lib = resolve(stampDir, '../../..');
  if (existsSync(join(lib, 'parts'))) {
    const prefix = resolve(lib, '../..');
    const part = `tessera-modules-${entry.name}`;
    return {
      action: `install the part ${part} of this build (${list.executable} ${list.version}, build ${list.stamp.slice(0, 12)}…)`,
      how:
        `your distribution's package ${part} of version ${list.version}, or, from the Tessera ${list.version} ` +
        `tree this was built from: node tools/install.mjs --prefix ${shellWord(prefix)} --modules ${entry.name}`,
    };
  }
  const root = resolve(stampDir, '../../../..');
  if (existsSync(join(root, 'nx.json'))) {
    return { action: 'build it in this build tree', how: `cd ${shellWord(root)} && npx nx build ${entry.name}` };
  }
  return {
    action: `install module ${entry.name} of this build (from ${entry.package} ${entry.version})`,
    how: `put the file ${entry.file} of build ${list.stamp} in ${shellWord(stampDir)}`,
  };
}
