import { isAbsolute, join, resolve } from 'node:path';
import type { ModuleSource } from './source.ts';

/**
 * The directory fixed at build time relative to the executable file (the list's
 * `moduleDirFromExecutable`): the build tree and a distribution's tree keep the same relative
 * layout, so both work.
 */
export function distributionSource(moduleDirFromExecutable: string, executableDir: string): ModuleSource {
  const path = isAbsolute(moduleDirFromExecutable) ? moduleDirFromExecutable : resolve(executableDir, moduleDirFromExecutable);
  return { origin: 'distribution', path, fileOf: (entry) => join(path, entry.file) };
}
