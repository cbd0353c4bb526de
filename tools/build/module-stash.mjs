// A module package's postinstall (the module build copies this file into the package's dist/ as
// tessera-stash.mjs; npm runs it in the package's directory). It keeps a copy of the package's
// stamped module file beside the packages, by build stamp:
//   <node_modules>/.tessera-stash/<stamp>/<name>.cjs
// npm replaces a package's directory on upgrade and runs no script of the old version, so a
// process of the old build still running would find only the new build's file and could not load
// its own (QEMU's problem, Ubuntu LP#1847361). With the stash, the loader, seeing its executable
// replaced under it, loads its own build's file from there (packages/core/src/module/sources/
// package-source.ts); it verifies the bytes by the sha256 it carries, so where they lie does not
// matter for integrity. npm leaves dot-directories in node_modules alone.
//
// Best effort: it never fails an install. Outside a node_modules (the workspace's own packages)
// it does nothing. The stash keeps the newest KEEP builds; older ones go (a process of a build
// that old, still to load its first module, is left with the "restart the command" message).
import { copyFileSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, closeSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const KEEP = 4;
const STASH = '.tessera-stash';

function stampOf(file) {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(200);
    const n = readSync(fd, head, 0, head.length, 0);
    return /^\/\*! tessera-module name=\S+ stamp=([0-9a-f]{64}) \*\//.exec(head.subarray(0, n).toString('latin1'))?.[1];
  } finally {
    closeSync(fd);
  }
}

function stash() {
  const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));
  let nodeModules = dirname(packageDir);
  if (basename(nodeModules).startsWith('@')) nodeModules = dirname(nodeModules);
  if (basename(nodeModules) !== 'node_modules') return;
  const name = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')).tessera?.name;
  if (typeof name !== 'string' || !/^[a-z0-9-]+$/.test(name)) return;
  const file = `${name}.cjs`;
  const source = join(packageDir, 'dist', file);
  const stamp = stampOf(source);
  if (!stamp) return;
  const root = join(nodeModules, STASH);
  const dir = join(root, stamp);
  mkdirSync(dir, { recursive: true });
  // Copied under a temporary name and renamed: a reader never sees half a file.
  const temporary = join(dir, `.${file}.${process.pid}`);
  copyFileSync(source, temporary);
  renameSync(temporary, join(dir, file));
  const now = new Date();
  utimesSync(dir, now, now); // the newest build, for the pruning below
  const builds = readdirSync(root)
    .filter((n) => /^[0-9a-f]{64}$/.test(n))
    .map((n) => ({ n, mtime: statSync(join(root, n)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const old of builds.slice(KEEP)) if (old.n !== stamp) rmSync(join(root, old.n), { recursive: true, force: true });
}

try {
  stash();
} catch (error) {
  process.stderr.write(`tessera: could not stash the module file for processes running during an upgrade: ${error.message}\n`);
}
