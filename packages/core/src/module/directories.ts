import { resolve } from 'node:path';
import { buildModuleDirectory } from './build-directory.ts';

export interface ModuleDirectory {
  readonly path: string;
  /** Why it is searched: the environment variable, or the executable's build-time default. */
  readonly origin: 'TESSERA_MODULE_DIR' | 'executable';
}

/**
 * Where an executable looks for its loadable modules, in order: `TESSERA_MODULE_DIR` when set,
 * then the directory fixed at build time relative to the executable file, so that a build tree
 * and an installed tree (which keep the same relative layout) both work.
 */
export function moduleDirectories(
  moduleDirFromExecutable: string,
  executableUrl: string,
  env: Readonly<Record<string, string | undefined>>,
  stamp: string,
): ModuleDirectory[] {
  const directories: ModuleDirectory[] = [];
  const fromEnv = env.TESSERA_MODULE_DIR;
  if (fromEnv) directories.push({ path: resolve(fromEnv), origin: 'TESSERA_MODULE_DIR' });
  const fixed = buildModuleDirectory(moduleDirFromExecutable, executableUrl, stamp);
  if (!directories.some((d) => d.path === fixed)) directories.push({ path: fixed, origin: 'executable' });
  return directories;
}
