// The build stamp: a digest of everything a build is made from (the source tree, the version and
// the configuration), never of the clock. Loadable modules carry it; an executable loads only
// modules whose stamp equals its own. The file set mirrors nx.json's "buildStamp" input.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT_FILES = ['package.json', 'package-lock.json', 'nx.json', 'tsconfig.base.json'];
const TREE_DIRS = ['tools/build', 'tools/module-list'];

function walk(dir, out) {
  let names;
  try {
    names = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of names) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'generated' && entry.name !== 'node_modules') walk(path, out);
    } else if (entry.isFile()) out.push(path);
  }
}

/** Every file the stamp covers, relative to root, sorted. */
export function stampInputs(root) {
  const files = [];
  for (const name of ROOT_FILES) {
    try {
      if (statSync(join(root, name)).isFile()) files.push(join(root, name));
    } catch {}
  }
  for (const dir of TREE_DIRS) walk(join(root, dir), files);
  const packageDirs = (parent) =>
    readdirSync(join(root, parent), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join(root, parent, e.name));
  for (const pkg of [...packageDirs('packages'), ...packageDirs('packages/modules')]) {
    try {
      if (statSync(join(pkg, 'package.json')).isFile()) files.push(join(pkg, 'package.json'));
    } catch {
      continue;
    }
    walk(join(pkg, 'src'), files);
  }
  return files.map((f) => relative(root, f).split('\\').join('/')).sort();
}

export function readVersion(root) {
  return JSON.parse(readFileSync(join(root, 'packages/core/package.json'), 'utf8')).version;
}

/**
 * @param {{root: string, configuration: string, version?: string}} options
 * @returns {string} 64 hex digits
 */
export function computeBuildStamp({ root, configuration, version = readVersion(root) }) {
  const tree = createHash('sha256');
  for (const file of stampInputs(root)) {
    const digest = createHash('sha256').update(readFileSync(join(root, file))).digest('hex');
    tree.update(`${file}\0${digest}\n`);
  }
  return createHash('sha256')
    .update(`tessera-build-stamp 1\nversion ${version}\nconfiguration ${configuration}\ntree ${tree.digest('hex')}\n`)
    .digest('hex');
}
