import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory of this build's modules in a build or distribution tree: the modules directory
 * fixed at build time relative to the executable file, then a directory named by the build
 * stamp (`lib/tessera/modules/<stamp>/block-http.mjs`). A new build installed over a running
 * one adds its own stamp directory beside the old one, so the running process still finds the
 * modules of its own build (QEMU's upgrade problem, Ubuntu LP#1847361).
 */
export function buildModuleDirectory(moduleDirFromExecutable: string, executableUrl: string, stamp: string): string {
  const base = fileURLToPath(new URL('.', executableUrl));
  const modules = isAbsolute(moduleDirFromExecutable) ? moduleDirFromExecutable : resolve(base, moduleDirFromExecutable);
  return join(modules, stamp);
}
