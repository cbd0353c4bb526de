// Vite config for a loadable module: one self-contained ESM file with its third-party
// dependencies bundled in, headed by the module's name and the build stamp, written to the
// build's own directory (paths.mjs) and copied into the module's package (what npm publishes).
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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
 * The module's npm package ships the very file the build made (byte for byte: executables check
 * its sha256), so the build copies it into the package's own dist/, which package.json `files`
 * publishes, with the licences of the third-party code bundled into it, and its postinstall
 * script (module-stash.mjs).
 */
function intoPackage(moduleRoot, pkg, fileName) {
  return {
    name: 'tessera-module-into-package',
    writeBundle(options) {
      const dist = join(moduleRoot, 'dist');
      mkdirSync(dist, { recursive: true });
      copyFileSync(join(options.dir, fileName), join(dist, fileName));
      // The package's postinstall: stashes the file by stamp for processes that outlive an npm upgrade.
      copyFileSync(join(workspaceRoot, 'tools/build/module-stash.mjs'), join(dist, 'tessera-stash.mjs'));
      const bundled = Object.keys(pkg.devDependencies ?? {}).filter((dep) => !dep.startsWith('@tessera/'));
      if (bundled.length === 0) return;
      const require = createRequire(join(moduleRoot, 'package.json'));
      const texts = bundled.map((dep) => {
        // Found as Node looks for a package, not through its `exports`, which may leave package.json out.
        const dir = require.resolve.paths(dep).map((d) => join(d, dep)).find((d) => existsSync(join(d, 'package.json')));
        const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
        // A package that ships no licence text has one in the module's licenses/<name, / as +>.txt.
        const licence = [join(dir, 'LICENSE'), join(moduleRoot, 'licenses', `${dep.replace('/', '+')}.txt`)].find((f) => existsSync(f));
        if (!licence) throw new Error(`${dep} ships no LICENSE; put its licence text in ${join(moduleRoot, 'licenses')}`);
        return `${dep} ${version}\n\n${readFileSync(licence, 'utf8').trim()}\n`;
      });
      writeFileSync(
        join(dist, 'THIRD-PARTY-LICENSES.txt'),
        `${fileName} bundles the following packages, under these licences.\n\n${texts.join('\n---\n\n')}`,
      );
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
  const pkg = JSON.parse(readFileSync(join(moduleRoot, 'package.json'), 'utf8'));
  const manifest = pkg.tessera;
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
    plugins: [
      coreTypesOnly(manifest.name),
      // Only a tree's own build (not a test's build into another directory) keeps its directory
      // clean and fills the module's package.
      ...(buildTree ? [keepOnlyThisBuild(manifest.name, stamp, root), intoPackage(moduleRoot, pkg, moduleFileName(manifest.name))] : []),
    ],
  });
}
