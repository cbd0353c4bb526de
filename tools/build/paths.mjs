// Where the build puts things. Loadable module files land in `packages/modules/dist/<stamp>/`:
// one directory per build, so builds installed side by side (an upgrade under a running process)
// each keep their own modules. An executable finds `packages/modules/dist` at a path relative to
// itself that the generator compiles in, and adds its own stamp.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { basename, join } from 'node:path';
import { computeBuildStamp } from './stamp.mjs';

export const workspaceRoot = fileURLToPath(new URL('../..', import.meta.url));
export const modulesOutDir = (root = workspaceRoot) => join(root, 'packages/modules/dist');
/** CommonJS text, compiled by the loader as a script (core's execute.ts); Node could also require it. */
export const moduleFileName = (name) => `${name}.cjs`;
/** The directory of one build's module files (the stamp of the modular configuration names it). */
export const moduleStampDir = (stamp, root = workspaceRoot) => join(modulesOutDir(root), stamp);
/** The module directory of the build the tree's sources make now. */
export const builtModulesDir = (root = workspaceRoot) => moduleStampDir(computeBuildStamp({ root, configuration: 'modular' }), root);
/** An app's output directory for a configuration (same depth for both, so the module path is too). */
export const appOutDir = (appRoot, configuration) => join(appRoot, configuration === 'static' ? 'dist-static' : 'dist');
/**
 * An app's executable file name, as its package.json `bin` names it (`tessera-img.cjs`): the one
 * place that says whether it is built as CommonJS (`.cjs`, which Node starts without its ESM
 * loader) or as ESM (`.mjs`).
 */
export function executableFileName(appRoot) {
  const pkg = JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8'));
  return basename(pkg.bin[pkg.tessera.executable]);
}
