import { defineConfig } from 'vitest/config';

const conditions = ['tessera-source', 'node', 'import', 'module', 'default'];
const project = (name: string, root: string) => ({
  extends: true as const,
  test: { name, root, include: ['test/**/*.test.ts'] },
});

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      project('core', 'packages/core'),
      project('tools', 'tools'),
      project('block-http', 'packages/modules/block-http'),
      project('block-file', 'packages/modules/block-file'),
      project('block-qcow2', 'packages/modules/block-qcow2'),
      project('img-tool', 'packages/img-tool'),
      project('emulator', 'packages/emulator'),
      project('net-socket', 'packages/modules/net-socket'),
      project('ui-web', 'packages/modules/ui-web'),
    ],
  },
});
