// Vite config for a loadable module: one self-contained file with its third-party dependencies
// bundled in, headed by the module's name and the build stamp, written to the build's own
// directory (paths.mjs) and copied into the module's package (what npm publishes). It is
// CommonJS text: the loader compiles the bytes it verified as a script (core's execute.ts),
// which starts sooner than an ES module imported from a data: URL.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
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
 * A module runs as a script compiled from its verified bytes, where `import()` has nothing to
 * import with (Node gives a vm.Script no loader). Its lazy imports of Node builtins become
 * requires of them (the module's require gives builtins only); any other import() fails when
 * called, as it must: a module file carries all its code.
 */
function builtinImportsAsRequires() {
  return {
    name: 'tessera-builtin-imports-as-requires',
    renderChunk(code) {
      const rewritten = code.replace(/\bimport\((["'])([^"'\n]+)\1\)/g, (call, quote, id) =>
        isBuiltin(id) ? `Promise.resolve().then(() => require(${quote}${id}${quote}))` : call,
      );
      return rewritten === code ? null : { code: rewritten, map: null };
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
      // Found by directory, not require.resolve: a package's `exports` may hide its package.json.
      const dirOf = (dep) => {
        const found = require.resolve.paths(dep)?.map((base) => join(base, dep)).find((dir) => existsSync(join(dir, 'package.json')));
        if (!found) throw new Error(`${moduleRoot}: devDependency ${dep} is not installed`);
        return found;
      };
      const texts = bundled.map((dep) => {
        const { version } = JSON.parse(readFileSync(join(dirOf(dep), 'package.json'), 'utf8'));
        // A package that ships no licence text has it in the module's licenses/<name, / as +>.txt,
        // or (koffi's per-platform binaries) names in `tessera.licenseOf` the package whose licence covers it.
        const own = join(moduleRoot, 'licenses', `${dep.replace('/', '+')}.txt`);
        const text = existsSync(own) ? readFileSync(own, 'utf8').trim() : licenseText(dirOf(pkg.tessera.licenseOf?.[dep] ?? dep));
        return `${dep} ${version}\n\n${text}\n`;
      });
      writeFileSync(
        join(dist, 'THIRD-PARTY-LICENSES.txt'),
        `${fileName} bundles the following packages, under these licences.\n\n${texts.join('\n---\n\n')}`,
      );
    },
  };
}

function licenseText(dir) {
  const name = ['LICENSE', 'LICENSE.txt', 'LICENSE.md'].find((file) => existsSync(join(dir, file)));
  if (!name) throw new Error(`${dir} has no LICENSE file: name the package whose licence covers it in tessera.licenseOf`);
  return readFileSync(join(dir, name), 'utf8').trim();
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
  outDir ??= moduleStampDir(stamp, root); // packages/modules/dist/<stamp>/<name>.cjs
  const config = nodeBundleConfig({
    root: moduleRoot,
    entry: 'src/index.ts',
    outDir,
    fileName: moduleFileName(manifest.name),
    format: 'cjs',
    hasFileIdentity: false,
    banner: moduleHeader(manifest.name, stamp),
    emptyOutDir: false,
    plugins: [
      coreTypesOnly(manifest.name),
      builtinImportsAsRequires(),
      // Only a tree's own build (not a test's build into another directory) keeps its directory
      // clean and fills the module's package.
      ...(buildTree ? [keepOnlyThisBuild(manifest.name, stamp, root), intoPackage(moduleRoot, pkg, moduleFileName(manifest.name))] : []),
    ],
  });
  // The definition is `exports.default`, whatever else the module's entry exports.
  config.build.rolldownOptions.output.exports = 'named';
  return config;
}
