// Where the build puts things. Loadable module files all land in one flat directory; an
// executable finds it at a path relative to itself that the generator compiles in.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const workspaceRoot = fileURLToPath(new URL('../..', import.meta.url));
export const modulesOutDir = (root = workspaceRoot) => join(root, 'packages/modules/dist');
export const moduleFileName = (name) => `${name}.mjs`;
/** An app's output directory for a configuration (same depth for both, so the module path is too). */
export const appOutDir = (appRoot, configuration) => join(appRoot, configuration === 'static' ? 'dist-static' : 'dist');
