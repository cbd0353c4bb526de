#!/usr/bin/env node
// Writes an app's compiled-in module list into its sources:
//   node tools/module-list/generate.mjs --app packages/img-tool --configuration modular|static [--root DIR]
// Fails, naming the module, when the app's declared module set breaks a rule (validate.mjs) or a
// loadable module's built file is not from this build.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { moduleHeader } from '../build/module-header.mjs';
import { appOutDir, moduleFileName, moduleStampDir, modulesOutDir } from '../build/paths.mjs';
import { computeBuildStamp, readVersion } from '../build/stamp.mjs';
import { readAppManifest, readModuleManifests } from './manifests.mjs';
import { renderModuleList } from './render.mjs';
import { readCoreSignatures, unlistedSignatures } from './signatures.mjs';
import { ModuleListError, resolveModuleList } from './validate.mjs';

export function generateModuleList({ root, app: appDir, configuration }) {
  const appRoot = resolve(root, appDir);
  const app = readAppManifest(appRoot);
  const manifests = readModuleManifests(root);
  const modules = resolveModuleList(app, manifests, configuration, readCoreSignatures(root));
  const stamp = computeBuildStamp({ root, configuration });
  // Module files are built once, for the modular configuration, into that build's directory.
  const moduleStamp = configuration === 'modular' ? stamp : computeBuildStamp({ root, configuration: 'modular' });
  const moduleDir = moduleStampDir(moduleStamp, root);
  const withFiles = modules.map((m) => {
    if (m.linkage === 'builtin') return m;
    const file = moduleFileName(m.name);
    const path = join(moduleDir, file);
    if (!existsSync(path)) {
      throw new ModuleListError(`${app.project}: loadable module ${m.name} has no built file ${path}; run nx build ${m.name}`);
    }
    const bytes = readFileSync(path);
    const expectedHeader = moduleHeader(m.name, moduleStamp);
    if (!bytes.subarray(0, expectedHeader.length).equals(Buffer.from(expectedHeader))) {
      throw new ModuleListError(
        `${app.project}: the built file of module ${m.name} (${path}) is not from this build's tree; rebuild it (nx build ${m.name})`,
      );
    }
    return { ...m, file, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
  });
  const generatedDir = join(appRoot, 'src/generated');
  const unlisted = unlistedSignatures(manifests, modules);
  const source = `${generatedSource({ root, app, configuration, stamp, appRoot, moduleDir: modulesOutDir(root), withFiles, unlisted, generatedDir })}`;
  const outFile = join(generatedDir, `module-list.${configuration}.ts`);
  mkdirSync(generatedDir, { recursive: true });
  // Rewrite only on change, so an unchanged list keeps its mtime for watchers and caches.
  if (!existsSync(outFile) || readFileSync(outFile, 'utf8') !== source) writeFileSync(outFile, source);
  return { outFile, modules: withFiles, stamp };
}

function generatedSource({ root, app, configuration, stamp, appRoot, moduleDir, withFiles, unlisted, generatedDir }) {
  return renderModuleList({
    executable: app.executable,
    version: readVersion(root),
    configuration,
    stamp,
    moduleDirFromExecutable: relative(appOutDir(appRoot, configuration), moduleDir).split('\\').join('/'),
    modules: withFiles,
    unlistedSignatures: unlisted,
    generatedDir,
    root,
  });
}


if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      app: { type: 'string' },
      configuration: { type: 'string', default: 'modular' },
      root: { type: 'string', default: process.cwd() },
    },
  });
  if (!values.app || !['modular', 'static'].includes(values.configuration)) {
    process.stderr.write('usage: generate.mjs --app <app dir> --configuration modular|static [--root <workspace>]\n');
    process.exit(2);
  }
  try {
    const { outFile, modules, stamp } = generateModuleList({ root: resolve(values.root), app: values.app, configuration: values.configuration });
    process.stdout.write(
      `module list ${relative(values.root, outFile)}: ${modules.map((m) => `${m.name} (${m.linkage})`).join(', ')}; stamp ${stamp.slice(0, 16)}…\n`,
    );
  } catch (error) {
    if (!(error instanceof ModuleListError)) throw error;
    process.stderr.write(`error: ${error.message}\n`);
    process.exit(1);
  }
}
