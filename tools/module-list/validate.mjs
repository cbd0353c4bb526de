// The build-time rules of a module list. Each failure names the module at fault.
import { checkSignatures } from './signatures.mjs';

export class ModuleListError extends Error {}

const NAME = /^([a-z]+)-[a-z0-9]+(?:-[a-z0-9]+)*$/;

/**
 * Resolve an app's declared module set against the manifests of the tree's modules.
 * @param {{project: string, accepts: string[], modules: Record<string, string>}} app
 * @param {import('./manifests.mjs').ModuleManifest[]} manifests
 * @param {'modular' | 'static'} configuration
 * @param {object[]} [coreSignatures] core's table of the formats no module provides (signatures.mjs)
 * @returns {Array<import('./manifests.mjs').ModuleManifest & {linkage: 'builtin' | 'loadable'}>}
 *   the app's modules, dependencies before dependents
 */
export function resolveModuleList(app, manifests, configuration, coreSignatures = []) {
  const fail = (message) => {
    throw new ModuleListError(`${app.project}: ${message}`);
  };
  const byName = new Map();
  for (const manifest of manifests) {
    const match = NAME.exec(manifest.name ?? '');
    if (!match) fail(`module package ${manifest.package} has no valid tessera.name (<category>-<name>)`);
    if (match[1] !== manifest.category) {
      fail(`module ${manifest.name} declares category ${manifest.category}, but its name says ${match[1]}`);
    }
    const other = byName.get(manifest.name);
    if (other) fail(`two modules claim the name ${manifest.name}: ${other.package} and ${manifest.package}`);
    byName.set(manifest.name, manifest);
  }
  // Every module of the tree, listed or not: a format's signature has one owner in any build.
  checkSignatures(manifests, coreSignatures, fail);

  const declared = Object.entries(app.modules);
  const linkageOf = new Map();
  for (const [name, linkage] of declared) {
    const manifest = byName.get(name);
    if (!manifest) fail(`module ${name} is on the list, but no package under packages/modules provides it`);
    if (!app.accepts.includes(manifest.category)) {
      fail(
        `module ${name} is a ${manifest.category} module; this executable accepts only ` +
          `${app.accepts.join(', ')} modules`,
      );
    }
    if (linkage !== 'builtin' && linkage !== 'loadable') {
      fail(`module ${name} has linkage "${linkage}"; use "builtin" or "loadable"`);
    }
    linkageOf.set(name, configuration === 'static' ? 'builtin' : linkage);
  }

  for (const [name] of declared) {
    for (const dependency of byName.get(name).dependsOn) {
      if (!linkageOf.has(dependency)) {
        fail(`module ${name} depends on ${dependency}, which is not on this executable's list`);
      }
      // A builtin's loadable dependency loads on demand, through a feature it provides (a
      // builtin is linked in, never loaded): it must provide one, or nothing could load it.
      if (linkageOf.get(name) === 'builtin' && linkageOf.get(dependency) === 'loadable' && byName.get(dependency).provides.length === 0) {
        fail(`builtin module ${name} depends on ${dependency}, which is loadable and provides no feature to load it by; link ${dependency} builtin too`);
      }
    }
  }

  // Depth-first topological order; a module met again while on the path closes a cycle.
  const ordered = [];
  const state = new Map(); // name -> 'visiting' | 'done'
  const visit = (name, path) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name];
      fail(`module ${name} is in a dependency cycle: ${cycle.join(' -> ')}`);
    }
    state.set(name, 'visiting');
    for (const dependency of byName.get(name).dependsOn) visit(dependency, [...path, name]);
    state.set(name, 'done');
    ordered.push({ ...byName.get(name), linkage: linkageOf.get(name) });
  };
  for (const [name] of declared) visit(name, []);
  return ordered;
}
