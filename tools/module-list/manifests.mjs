// Reads the module manifests (the "tessera" field of each packages/modules/*/package.json) and
// an app's declared module set (the "tessera" field of its package.json).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * @typedef {{name: string, category: string, dependsOn: string[], provides: string[], signatures: object[],
 *   package: string, version: string, dir: string}} ModuleManifest
 */

/** @returns {ModuleManifest[]} */
export function readModuleManifests(root) {
  const modulesDir = join(root, 'packages/modules');
  const manifests = [];
  for (const entry of readdirSync(modulesDir, { withFileTypes: true })) {
    const pkgPath = join(modulesDir, entry.name, 'package.json');
    if (!entry.isDirectory() || !existsSync(pkgPath)) continue;
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
    const t = pkg.tessera ?? {};
    manifests.push({
      name: t.name,
      category: t.category,
      dependsOn: t.dependsOn ?? [],
      provides: t.provides ?? [],
      signatures: t.signatures ?? [],
      package: pkg.name,
      version: pkg.version,
      dir: relative(root, join(modulesDir, entry.name)),
    });
  }
  return manifests.sort((a, b) => a.dir.localeCompare(b.dir));
}

/**
 * @returns {{project: string, executable: string, accepts: string[],
 *   modules: Record<string, 'builtin' | 'loadable'>, devDependencies: string[]}}
 */
export function readAppManifest(appRoot) {
  const pkg = JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8'));
  const t = pkg.tessera ?? {};
  return {
    project: pkg.nx?.name ?? pkg.name,
    executable: t.executable,
    accepts: t.accepts ?? [],
    modules: t.modules ?? {},
    devDependencies: Object.keys(pkg.devDependencies ?? {}),
  };
}
