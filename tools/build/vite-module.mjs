// Vite config for a loadable module: one self-contained ESM file with its third-party
// dependencies bundled in, headed by the module's name and the build stamp, written to the
// build's own directory (paths.mjs).
import { readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { moduleHeader } from './module-header.mjs';
import { moduleFileName, modulesOutDir, moduleStampDir, workspaceRoot } from './paths.mjs';
import { computeBuildStamp } from './stamp.mjs';
import { nodeBundleConfig } from './vite-node.mjs';

/** Modules reach core only through the api their init functions receive. */
function coreTypesOnly(name) {
  return {
    name: 'tessera-core-types-only',
    enforce: 'pre',
    resolveId(id) {
      if (id === '@tessera/core' || id.startsWith('@tessera/core/')) {
        this.error(
          `module ${name} imports ${id} at run time; a module may import only types from @tessera/core ` +
            '(use "import type") and reaches core through the api its init functions receive',
        );
      }
      return null;
    },
  };
}

/**
 * In the build tree only one build's file of a module is kept: the module's build removes its
 * file from other builds' directories (and a directory it leaves empty). Otherwise nx, whose
 * outputs match every build's directory, would cache and restore them all. Installed trees keep
 * older builds' modules (tools/install.mjs); a build tree is not an installation.
 */
function keepOnlyThisBuild(name, stamp, root) {
  return {
    name: 'tessera-module-keep-only-this-build',
    writeBundle() {
      const all = modulesOutDir(root);
      for (const other of readdirSync(all)) {
        if (other === stamp || !/^[0-9a-f]{64}$/.test(other)) continue;
        rmSync(join(all, other, moduleFileName(name)), { force: true });
        try {
          rmdirSync(join(all, other));
        } catch {} // other modules' files are still there
      }
    },
  };
}

export function moduleViteConfig(moduleRoot, { root = workspaceRoot, outDir } = {}) {
  const manifest = JSON.parse(readFileSync(join(moduleRoot, 'package.json'), 'utf8')).tessera;
  const stamp = computeBuildStamp({ root, configuration: 'modular' });
  const buildTree = outDir === undefined;
  outDir ??= moduleStampDir(stamp, root); // packages/modules/dist/<stamp>/<name>.mjs
  return nodeBundleConfig({
    root: moduleRoot,
    entry: 'src/index.ts',
    outDir,
    fileName: moduleFileName(manifest.name),
    banner: moduleHeader(manifest.name, stamp),
    emptyOutDir: false,
    plugins: [coreTypesOnly(manifest.name), ...(buildTree ? [keepOnlyThisBuild(manifest.name, stamp, root)] : [])],
  });
}
