// Vite config for an executable: one file with core, the builtin modules and the generated
// module list of the configuration (`modular`, the default, or `static`). CommonJS or ESM as the
// file name its package.json `bin` gives says (`.cjs` or `.mjs`). A CommonJS executable given a
// `warmUp` is built as a launcher with a V8 code cache of its program (code-cache.mjs).
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { codeCachedLauncher } from './code-cache.mjs';
import { ofdLockAddonPlugin } from './ofd-lock-addon.mjs';
import { appOutDir, executableFileName } from './paths.mjs';
import { runtimeDependenciesPlugin } from './runtime-deps.mjs';
import { nodeBundleConfig } from './vite-node.mjs';

function executableBit() {
  return {
    name: 'tessera-executable-bit',
    writeBundle(options, bundle) {
      for (const file of Object.keys(bundle)) chmodSync(join(options.dir, file), 0o755);
    },
  };
}

/**
 * `warmUp(dir)`: for a CommonJS executable, set up a small workload in scratch directory `dir`
 * and return the executable's arguments for it; its code cache is made from that run.
 * `commandWarmUps`: caches of their own for some commands (code-cache.mjs).
 * `runtimeDependencies`: `{ package: [files] }` copied next to the executable (runtime-deps.mjs).
 */
export function appViteConfig(appRoot, mode, { warmUp, commandWarmUps, runtimeDependencies } = {}) {
  const configuration = mode === 'static' ? 'static' : 'modular';
  const pkg = JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8'));
  const fileName = executableFileName(appRoot);
  const commonJs = fileName.endsWith('.cjs');
  const stem = fileName.slice(0, fileName.lastIndexOf('.'));
  const config = nodeBundleConfig({
    root: appRoot,
    entry: 'src/main.ts',
    outDir: appOutDir(appRoot, configuration),
    fileName,
    // CommonJS starts about 10 ms sooner: Node runs the main file without its ESM loader.
    format: commonJs ? 'cjs' : 'es',
    emptyOutDir: true,
    // The image-lock addon first: the code-cache warm-up runs the executable, which locks images.
    plugins: [
      ofdLockAddonPlugin(stem),
      ...(runtimeDependencies ? [runtimeDependenciesPlugin(appRoot, stem, runtimeDependencies)] : []),
      executableBit(),
      ...(commonJs && warmUp ? [codeCachedLauncher({ fileName, warmUp, commandWarmUps })] : []),
    ],
    external: Object.keys(pkg.dependencies ?? {}),
  });
  // Minified: V8 compiles the whole file at every start, and fewer bytes compile faster.
  config.build.minify = true;
  config.resolve.alias = {
    '#module-list': join(appRoot, `src/generated/module-list.${configuration}.ts`),
  };
  return config;
}
