import { isAbsolute, join, resolve } from 'node:path';
import type { ModuleSource } from './source.ts';

/**
 * This build's directory in the modules directory fixed at build time relative to the executable
 * (the list's `moduleDirFromExecutable`): `<modules>/<stamp>/`. The build tree and a distribution's
 * tree keep the same relative layout, so both work; and a new build installed over a running one
 * adds its own stamp directory beside the old one, so the running process still finds its own
 * build's modules (QEMU's upgrade problem, Ubuntu LP#1847361).
 */
export function distributionSource(moduleDirFromExecutable: string, executableDir: string, stamp: string): ModuleSource {
  const modules = isAbsolute(moduleDirFromExecutable) ? moduleDirFromExecutable : resolve(executableDir, moduleDirFromExecutable);
  const path = join(modules, stamp);
  return { origin: 'distribution', path, fileOf: (entry) => join(path, entry.file) };
}
