#!/usr/bin/env node
// Installs the built executables and loadable modules under a prefix, keeping the build tree's
// relative layout so each executable finds its modules where it was built to look:
//   PREFIX/bin/tessera-img -> ../lib/tessera/img-tool/dist/tessera-img.cjs
//   (with the program and code cache it launches: tessera-img.<digest>.cjs, .code-cache, and its
//   image-lock addon tessera-img.ofd-lock.node, whose sha256 the executable checks before loading it)
//   PREFIX/lib/tessera/modules/dist/<module>.mjs
// Usage: node tools/install.mjs --prefix DIR [--modules name,name]   (default: every built module)
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { executableFileName, modulesOutDir, workspaceRoot } from './build/paths.mjs';

const APPS = [
  { dir: 'img-tool', executable: 'tessera-img' },
  { dir: 'emulator', executable: 'tessera' },
];

const { values } = parseArgs({ options: { prefix: { type: 'string' }, modules: { type: 'string' } } });
if (!values.prefix) {
  process.stderr.write('usage: node tools/install.mjs --prefix DIR [--modules name,name]\n');
  process.exit(2);
}
const lib = join(values.prefix, 'lib/tessera');
const bin = join(values.prefix, 'bin');
mkdirSync(bin, { recursive: true });

for (const app of APPS) {
  const file = executableFileName(join(workspaceRoot, 'packages', app.dir));
  const built = join(workspaceRoot, 'packages', app.dir, 'dist', file);
  if (!existsSync(built)) {
    process.stderr.write(`install: ${built} is not built; run npx nx build ${app.dir}\n`);
    process.exit(1);
  }
  const target = join(lib, app.dir, 'dist', file);
  rmSync(dirname(target), { recursive: true, force: true }); // no program of an older build stays
  mkdirSync(dirname(target), { recursive: true });
  // The executable and what it launches: every file of its dist named after it.
  const stem = file.slice(0, file.lastIndexOf('.'));
  for (const name of readdirSync(dirname(built))) {
    if (name.startsWith(`${stem}.`)) copyFileSync(join(dirname(built), name), join(dirname(target), name));
  }
  const link = join(bin, app.executable);
  rmSync(link, { force: true });
  symlinkSync(relative(bin, target), link);
}

const wanted = values.modules?.split(',');
const moduleTarget = join(lib, 'modules', 'dist');
mkdirSync(moduleTarget, { recursive: true });
for (const file of readdirSync(modulesOutDir())) {
  if (!file.endsWith('.mjs') || (wanted && !wanted.includes(file.slice(0, -4)))) continue;
  copyFileSync(join(modulesOutDir(), file), join(moduleTarget, file));
}
process.stdout.write(`installed into ${values.prefix}\n`);
