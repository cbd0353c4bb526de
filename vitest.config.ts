import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import { ofdLockAddon, ofdLockAddonPath } from './tools/build/ofd-lock-addon.mjs';
import { inlinedBytes } from './tools/build/vite-bytes.mjs';

const conditions = ['tessera-source', 'node', 'import', 'module', 'default'];
const project = (name: string, root: string) => ({
  extends: true as const,
  test: { name, root, include: ['test/**/*.test.ts'] },
});

// Tests that run block-file from source lock images with the built addon, checked as the executables check theirs.
const ofdLock = existsSync(ofdLockAddonPath) ? ofdLockAddon() : undefined;

export default defineConfig({
  plugins: [inlinedBytes()],
  define: { __TESSERA_OFD_LOCK__: JSON.stringify(ofdLock && { file: ofdLock.path, bytes: ofdLock.bytes }) },
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    testTimeout: 60_000,
    // Files reached through tools/build/vite-bytes.mjs go through vite, not straight to Node.
    server: { deps: { inline: [/tessera-(bytes|brotli-bytes|digest):/, /@bokuweb\/zstd-wasm/] } },
    hookTimeout: 120_000,
    projects: [
      project('core', 'packages/core'),
      project('tools', 'tools'),
      project('block-http', 'packages/modules/block-http'),
      project('block-file', 'packages/modules/block-file'),
      project('block-qcow2', 'packages/modules/block-qcow2'),
      project('block-codec-zstd', 'packages/modules/block-codec-zstd'),
      // The loadable image-format modules, one project each.
      ...['bochs', 'cloop', 'dmg', 'vmdk', 'vdi', 'qed', 'parallels', 'qcow', 'vpc', 'vhdx', 'luks'].map((format) =>
        project(`block-${format}`, `packages/modules/block-${format}`),
      ),
      project('block-nbd', 'packages/modules/block-nbd'),
      project('block-ssh', 'packages/modules/block-ssh'),
      project('block-iscsi', 'packages/modules/block-iscsi'),
      project('block-rbd', 'packages/modules/block-rbd'),
      project('img-tool', 'packages/img-tool'),
      project('emulator', 'packages/emulator'),
      project('nbd-server', 'packages/nbd-server'),
      project('net-socket', 'packages/modules/net-socket'),
      project('ui-web', 'packages/modules/ui-web'),
    ],
  },
});
