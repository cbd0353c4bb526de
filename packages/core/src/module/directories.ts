import { fileURLToPath } from 'node:url';
import { distributionSource } from './sources/distribution-source.ts';
import { envSource } from './sources/env-source.ts';
import { npmInstallCommand, npmLayout } from './sources/npm-layout.ts';
import { packageSource } from './sources/package-source.ts';
import type { ModuleSource } from './sources/source.ts';
import type { LoadableModuleEntry } from './types.ts';

export type { ModuleOrigin, ModuleSource } from './sources/source.ts';

/** Where an executable looks for its loadable modules, and what to tell a user who has none. */
export interface ModuleSearch {
  /** In search order; the first copy of a module found decides. */
  readonly sources: readonly ModuleSource[];
  /** The exact command that installs this build's package of a module where it will be found. */
  installCommand(entry: LoadableModuleEntry): string;
}

/**
 * The search order: 1. `TESSERA_MODULE_DIR` when set; 2. module packages npm installed beside the
 * executable's package; 3. the distribution directory fixed at build time relative to the
 * executable. Each source is one small function (sources/), so changing one stays local.
 */
export function moduleSearch(
  moduleDirFromExecutable: string,
  executableUrl: string,
  env: Readonly<Record<string, string | undefined>>,
): ModuleSearch {
  const executableDir = fileURLToPath(new URL('.', executableUrl));
  const layout = npmLayout(executableDir);
  const candidates = [envSource(env), layout && packageSource(layout), distributionSource(moduleDirFromExecutable, executableDir)];
  const sources: ModuleSource[] = [];
  for (const source of candidates) {
    // The same directory twice (TESSERA_MODULE_DIR naming the distribution directory) is searched once.
    if (source && !sources.some((s) => s.path === source.path)) sources.push(source);
  }
  return { sources, installCommand: (entry) => npmInstallCommand(entry, layout) };
}
