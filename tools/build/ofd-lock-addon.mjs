// The OFD-lock addon of block-file (packages/modules/block-file/native): built with node-gyp
// against the headers of the Node that runs the build (no download: --nodedir), copied next to
// each executable, a copy of its bytes compiled into the executable, which compares the file with
// it before loading it.
//   node tools/build/ofd-lock-addon.mjs    builds it (block-file's build-native target)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { workspaceRoot } from './paths.mjs';

const addonDir = join(workspaceRoot, 'packages/modules/block-file/native');
export const ofdLockAddonPath = join(addonDir, 'build/Release/ofd_lock.node');

/** The built addon's path, bytes (base64) and sha256; a clear error when it is not built. */
export function ofdLockAddon() {
  if (!existsSync(ofdLockAddonPath)) {
    throw new Error(`${ofdLockAddonPath} is not built; run: npx nx run block-file:build-native`);
  }
  const bytes = readFileSync(ofdLockAddonPath);
  return { path: ofdLockAddonPath, bytes: bytes.toString('base64'), sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** The executable's name for its copy of the addon (install.mjs copies every `<stem>.*` file of a dist). */
export const addonFileName = (stem) => `${stem}.ofd-lock.node`;

/**
 * Vite plugin for an executable: compiles in where its addon is (next to it) and its bytes, and
 * puts the addon there before anything runs the executable (the code-cache warm-up does).
 */
export function ofdLockAddonPlugin(stem) {
  const addon = ofdLockAddon();
  const file = addonFileName(stem);
  return {
    name: 'tessera-ofd-lock-addon',
    config: () => ({ define: { __TESSERA_OFD_LOCK__: JSON.stringify({ file: `./${file}`, bytes: addon.bytes }) } }),
    writeBundle: {
      sequential: true,
      order: 'pre',
      handler(options) {
        copyFileSync(addon.path, join(options.dir, file));
      },
    },
  };
}

function nodeHeadersDir() {
  // Node's own install prefix has include/node (Debian's and nodejs.org's packages both do).
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include/node/node_api.h')) && existsSync(join(prefix, 'include/node/common.gypi'))) return prefix;
  throw new Error(`Node's headers are not in ${prefix}/include/node; install Node with its headers (Debian: nodejs with libnode-dev, or nodejs.org's tarball)`);
}

function build() {
  const nodeGyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  const result = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodeHeadersDir()}`, '--directory', addonDir, '--loglevel=warn'], {
    stdio: 'inherit',
    env: { ...process.env, npm_config_nodedir: nodeHeadersDir() },
  });
  if (result.status !== 0) throw new Error(`node-gyp failed (${result.status}) building ${addonDir}`);
  process.stdout.write(`built ${ofdLockAddonPath} (sha256 ${ofdLockAddon().sha256})\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) build();
