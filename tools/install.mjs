#!/usr/bin/env node
// Installs a distribution tree (what a Debian package of Tessera would ship) under a prefix:
//   PREFIX/bin/tessera-img -> ../lib/tessera/img-tool/dist/tessera-img.cjs
//   PREFIX/bin/tessera     -> ../lib/tessera/emulator/dist/tessera.mjs
//   PREFIX/lib/tessera/<app>/dist/   each executable with everything it runs: the program and code
//                          cache its launcher starts, its image-lock addon, and its own runtime
//                          dependencies with their licenses (tessera.deps/v86/), which it loads
//                          by a path relative to itself: nothing outside the tree is resolved
//   PREFIX/lib/tessera/modules/dist/<stamp>/<module>.mjs   the loadable modules of one build
//   PREFIX/lib/tessera/parts/<part>.json   which paths form each part a packager ships separately
// The tree keeps the build tree's relative layout, so an executable finds its modules where it was
// built to look (../../modules/dist/<its stamp>/).
//
// Upgrades: installing another build over the same prefix replaces the executables but adds its
// modules in a new stamp directory beside the old ones, so a process of the old build that loads
// a module for the first time after the upgrade still loads its own build's (QEMU's problem,
// Ubuntu LP#1847361). Old stamp directories stay, as Debian's qemu keeps the saved modules of an
// upgraded build until reboot: a process may be using them, and no tool can know when the last
// one ends. `--prune` removes the stamp directories no installed executable uses, and only when
// no process runs an executable of this prefix (Debian checks for running qemu the same way).
//
// Usage: node tools/install.mjs --prefix DIR [--modules name,name] [--prune]
//   --modules   install only these loadable modules (default: every loadable module)
//   --prune     after installing, remove module directories of other builds (see above)
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { executableFileName, moduleFileName, modulesOutDir, workspaceRoot } from './build/paths.mjs';

const APPS = [
  { dir: 'img-tool', part: 'tessera-img' },
  { dir: 'emulator', part: 'tessera' },
];
const USAGE = 'usage: node tools/install.mjs --prefix DIR [--modules name,name] [--prune]\n';

function fail(message, code = 1) {
  process.stderr.write(`install: ${message}\n`);
  process.exit(code);
}

/** What the built executable says about itself: version, stamp, and its loadable modules. */
function describe(executable) {
  const result = spawnSync(process.execPath, [executable, '--list-modules', '--output=json'], {
    encoding: 'utf8',
    env: { ...process.env, TESSERA_MODULE_DIR: '' },
  });
  if (result.status !== 0) fail(`${executable} --list-modules failed: ${result.stderr.trim()}`);
  const report = JSON.parse(result.stdout);
  return { ...report, loadable: report.modules.filter((m) => m.linkage === 'loadable').map((m) => m.name) };
}

/** Make `target` by `fill(temporary)` and a rename: nothing ever sees a half-copied file or tree. */
function installAtomically(target, fill) {
  const temporary = `${target}.installing-${process.pid}`;
  const old = `${target}.old-${process.pid}`;
  rmSync(temporary, { recursive: true, force: true });
  fill(temporary);
  if (existsSync(target)) renameSync(target, old);
  renameSync(temporary, target);
  rmSync(old, { recursive: true, force: true });
}

/**
 * Processes running an executable installed under `lib`: an argument of their command line that,
 * taken from their working directory and with symbolic links resolved (bin/tessera), is in `lib`.
 */
function processesUsing(lib) {
  const pids = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid)) {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const inLib = (arg) => {
        try {
          return realpathSync(resolve(cwd, arg)).startsWith(`${lib}/`);
        } catch {
          return false; // not a path
        }
      };
      if (command.slice(1).some(inLib)) pids.push(Number(pid));
    } catch {
      continue; // ended meanwhile, or not ours to read
    }
  }
  return pids;
}

const { values } = parseArgs({
  options: { prefix: { type: 'string' }, modules: { type: 'string' }, prune: { type: 'boolean', default: false } },
});
if (!values.prefix) fail(USAGE.trim(), 2);
const prefix = resolve(values.prefix);
const lib = join(prefix, 'lib/tessera');
const bin = join(prefix, 'bin');
const moduleRoot = join(lib, 'modules/dist');

const apps = APPS.map((app) => {
  const appRoot = join(workspaceRoot, 'packages', app.dir);
  const built = join(appRoot, 'dist', executableFileName(appRoot));
  if (!existsSync(built)) fail(`${built} is not built; run npx nx build ${app.dir}`);
  return { ...app, built, ...describe(built) };
});
const stamp = apps[0].stamp;
for (const app of apps) {
  if (app.stamp !== stamp) fail(`${app.built} is from another build than ${apps[0].built}; rebuild both (npx nx run-many -t build)`);
}
const loadable = [...new Set(apps.flatMap((app) => app.loadable))];
const wanted = values.modules === undefined ? loadable : values.modules.split(',').filter(Boolean);
for (const name of wanted) {
  if (!loadable.includes(name)) fail(`${name} is not a loadable module of these executables (loadable: ${loadable.join(', ')})`);
}
const builtModules = join(modulesOutDir(), stamp);
for (const name of wanted) {
  if (!existsSync(join(builtModules, moduleFileName(name)))) fail(`module ${name} of build ${stamp} is not built in ${builtModules}; run npx nx build ${name}`);
}

const parts = [];
mkdirSync(bin, { recursive: true });
for (const app of apps) {
  // The executable's dist holds only what it runs: the executable and its `<stem>.*` files and directories.
  const file = executableFileName(join(workspaceRoot, 'packages', app.dir));
  const target = join(lib, app.dir, 'dist');
  mkdirSync(dirname(target), { recursive: true });
  const stem = file.slice(0, file.lastIndexOf('.'));
  installAtomically(target, (staging) => {
    mkdirSync(staging);
    for (const name of readdirSync(dirname(app.built))) {
      if (name.startsWith(`${stem}.`)) cpSync(join(dirname(app.built), name), join(staging, name), { recursive: true });
    }
  });
  const link = join(bin, app.executable);
  rmSync(link, { force: true });
  symlinkSync(relative(bin, join(target, file)), link);
  parts.push({ part: app.part, paths: [relative(prefix, link), relative(prefix, join(lib, app.dir))] });
}

const stampDir = join(moduleRoot, stamp);
mkdirSync(stampDir, { recursive: true });
for (const name of wanted) {
  const file = moduleFileName(name);
  installAtomically(join(stampDir, file), (temporary) => cpSync(join(builtModules, file), temporary));
  parts.push({ part: `tessera-modules-${name}`, paths: [relative(prefix, join(stampDir, file))] });
}

// One manifest per part: a packager ships each as its own package; a module part needs the
// executables of the same version (the stamp decides: a module loads only into its own build).
const manifests = join(lib, 'parts');
mkdirSync(manifests, { recursive: true });
for (const part of parts) {
  const depends = part.part.startsWith('tessera-modules-') ? apps.filter((a) => a.loadable.includes(part.part.slice(16))).map((a) => a.part) : [];
  writeFileSync(join(manifests, `${part.part}.json`), `${JSON.stringify({ ...part, version: apps[0].version, stamp, depends }, null, 2)}\n`);
}

if (values.prune) {
  const running = processesUsing(realpathSync(lib));
  if (running.length) {
    process.stderr.write(`install: not pruning module directories: processes ${running.join(', ')} run executables of ${prefix} and may load their own build's modules; prune after they end\n`);
  } else {
    for (const name of readdirSync(moduleRoot)) {
      if (name !== stamp && /^[0-9a-f]{64}$/.test(name)) rmSync(join(moduleRoot, name), { recursive: true, force: true });
    }
    // And the manifests of the parts that went with them.
    for (const name of readdirSync(manifests)) {
      const part = JSON.parse(readFileSync(join(manifests, name), 'utf8'));
      if (part.stamp !== stamp) rmSync(join(manifests, name));
    }
  }
}
process.stdout.write(`installed build ${stamp.slice(0, 16)}… (${apps[0].version}) into ${prefix}: ${parts.map((p) => p.part).join(', ')}\n`);
