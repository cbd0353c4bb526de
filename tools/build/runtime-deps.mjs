// An executable's own runtime dependencies (the emulator's v86) are copied next to it at build
// time, into `<stem>.deps/<package>/` (only the files it runs, with the package's license), and
// the executable loads them by that path relative to itself. So a build tree, an installed tree
// (tools/install.mjs) and an npm package each carry the copy they were built with, and Node's
// node_modules search upwards from the executable (where anyone may plant a `v86` under /tmp)
// never decides what runs. So the app declares them as devDependencies (needed to build, not to
// run): installing the app's npm package installs no copy of them that could be resolved instead.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The executable's directory of runtime dependencies, relative to it (install.mjs copies it with the `<stem>.*` files). */
export const runtimeDepsDirName = (stem) => `${stem}.deps`;

/** The package directory of `name` as Node would find it from `appRoot` at build time. */
function packageDir(appRoot, name) {
  for (let dir = appRoot; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`runtime dependency ${name} of ${appRoot} is not installed; run npm ci`);
  }
}

/**
 * Vite plugin: copies `files` of each dependency (`{ v86: ['LICENSE', 'build/libv86.mjs', …] }`)
 * into `<outDir>/<stem>.deps/<name>/` and defines `__TESSERA_RUNTIME_DEPS__` as that directory
 * relative to the executable. The version copied must be the one the app's package.json pins.
 */
export function runtimeDependenciesPlugin(appRoot, stem, dependencies) {
  const pkg = JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8'));
  const pinned = { ...pkg.devDependencies, ...pkg.dependencies };
  return {
    name: 'tessera-runtime-dependencies',
    config: () => ({ define: { __TESSERA_RUNTIME_DEPS__: JSON.stringify(`./${runtimeDepsDirName(stem)}/`) } }),
    writeBundle: {
      sequential: true,
      order: 'pre',
      handler(options) {
        const target = join(options.dir, runtimeDepsDirName(stem));
        rmSync(target, { recursive: true, force: true });
        for (const [name, files] of Object.entries(dependencies)) {
          const source = packageDir(appRoot, name);
          const version = JSON.parse(readFileSync(join(source, 'package.json'), 'utf8')).version;
          if (pinned[name] && !version.startsWith(pinned[name])) {
            throw new Error(`${name} ${version} is installed, but ${appRoot}/package.json pins ${pinned[name]}; run npm ci`);
          }
          for (const file of ['package.json', ...files]) {
            mkdirSync(dirname(join(target, name, file)), { recursive: true });
            cpSync(join(source, file), join(target, name, file));
          }
        }
      },
    },
  };
}
