// Where the build puts things. Loadable module files all land in one flat directory; an
// executable finds it at a path relative to itself that the generator compiles in.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { basename, join } from 'node:path';

export const workspaceRoot = fileURLToPath(new URL('../..', import.meta.url));
export const modulesOutDir = (root = workspaceRoot) => join(root, 'packages/modules/dist');
export const moduleFileName = (name) => `${name}.mjs`;
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
