// Vite config for an executable: one file with core, the builtin modules and the generated
// module list of the configuration (`modular`, the default, or `static`). CommonJS or ESM as the
// file name its package.json `bin` gives says (`.cjs` or `.mjs`).
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { appOutDir, executableFileName } from './paths.mjs';
import { nodeBundleConfig } from './vite-node.mjs';

function executableBit() {
  return {
    name: 'tessera-executable-bit',
    writeBundle(options, bundle) {
      for (const file of Object.keys(bundle)) chmodSync(join(options.dir, file), 0o755);
    },
  };
}

export function appViteConfig(appRoot, mode) {
  const configuration = mode === 'static' ? 'static' : 'modular';
  const pkg = JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8'));
  const fileName = executableFileName(appRoot);
  const config = nodeBundleConfig({
    root: appRoot,
    entry: 'src/main.ts',
    outDir: appOutDir(appRoot, configuration),
    fileName,
    // CommonJS starts about 10 ms sooner: Node runs the main file without its ESM loader.
    format: fileName.endsWith('.cjs') ? 'cjs' : 'es',
    emptyOutDir: true,
    plugins: [executableBit()],
    external: Object.keys(pkg.dependencies ?? {}),
  });
  // Minified: V8 compiles the whole file at every start, and fewer bytes compile faster.
  config.build.minify = true;
  config.resolve.alias = {
    '#module-list': join(appRoot, `src/generated/module-list.${configuration}.ts`),
  };
  return config;
}
