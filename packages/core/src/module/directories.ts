import { fileURLToPath } from 'node:url';
import { distributionSource } from './sources/distribution-source.ts';
import { envSource } from './sources/env-source.ts';
import { installAdvice, type InstallAdvice } from './sources/install-advice.ts';
import { npmLayout } from './sources/npm-layout.ts';
import { packageSource } from './sources/package-source.ts';
import type { ModuleSource } from './sources/source.ts';
import type { LoadableModuleEntry, ModuleList } from './types.ts';

export type { ModuleOrigin, ModuleSource } from './sources/source.ts';
export type { InstallAdvice } from './sources/install-advice.ts';

/** Where an executable looks for its loadable modules, and what to tell a user who has none. */
export interface ModuleSearch {
  /** In search order; the first copy of a module found decides. */
  readonly sources: readonly ModuleSource[];
  /** How to install this build's copy of a module where it will be found, as this layout does it. */
  installAdvice(entry: LoadableModuleEntry): InstallAdvice;
}

/**
 * The search order: 1. `TESSERA_MODULE_DIR` when set; 2. module packages npm installed beside the
 * executable's package; 3. this build's stamp directory in the distribution's modules directory,
 * fixed at build time relative to the executable. Each source is one small function (sources/),
 * so changing one stays local.
 */
export function moduleSearch(
  list: ModuleList,
  executableUrl: string,
  env: Readonly<Record<string, string | undefined>>,
): ModuleSearch {
  const executableDir = fileURLToPath(new URL('.', executableUrl));
  const layout = npmLayout(executableDir);
  const distribution = distributionSource(list.moduleDirFromExecutable, executableDir, list.stamp);
  const candidates = [envSource(env), layout && packageSource(layout, list.stamp), distribution];
  const sources: ModuleSource[] = [];
  for (const source of candidates) {
    // The same directory twice (TESSERA_MODULE_DIR naming the distribution directory) is searched once.
    if (source && !sources.some((s) => s.path === source.path)) sources.push(source);
  }
  return { sources, installAdvice: (entry) => installAdvice(entry, list, layout, distribution.path) };
}
