// Shared vite settings for one-file bundles that run under Node 20: modules (CommonJS text the
// loader compiles as a script) and executables (ESM or CommonJS).
import { builtinModules } from 'node:module';
import { esmExternalRequirePlugin } from 'vite';
import { bundledAddonsStubbed } from './vite-bundled-addons.mjs';
import { inlinedBytes } from './vite-bytes.mjs';

const builtins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

/**
 * Requires that stay lazy (builtins newer than Node 20, such as node:sqlite, behind a guard) go
 * through createRequire(import.meta.url), and a verified module runs with no file URL of its own.
 * Everything but builtins is bundled, so any base URL resolves them.
 */
function requireWithoutFileUrl() {
  return {
    name: 'tessera-require-without-file-url',
    renderChunk(code) {
      const lazy = 'createRequire(import.meta.url)';
      if (!code.includes(lazy)) return null;
      return { code: code.replaceAll(lazy, 'createRequire("file:///")'), map: null };
    },
  };
}

/**
 * `hasFileIdentity`: the bundle runs as a file Node loaded, with a `__dirname` (a CommonJS
 * executable). An ES executable has none, and neither has a module, which the loader runs from
 * the bytes it verified.
 */
export function nodeBundleConfig({ root, entry, outDir, fileName, format = 'es', hasFileIdentity = format === 'cjs', banner, emptyOutDir, plugins = [], external = [] }) {
  return {
    root,
    logLevel: 'warn',
    resolve: { conditions: ['tessera-source', 'node', 'import', 'module', 'default'] },
    ssr: { noExternal: true, target: 'node', resolve: { conditions: ['tessera-source', 'node', 'import', 'module', 'default'] } },
    plugins: [
      // Bundled CommonJS dependencies call require() for Node builtins; turn those into ESM imports
      // so the bundle needs no require(), __dirname or file URL of its own.
      esmExternalRequirePlugin({ external: builtins }),
      bundledAddonsStubbed(hasFileIdentity),
      requireWithoutFileUrl(),
      inlinedBytes(),
      ...plugins,
    ],
    build: {
      ssr: entry,
      outDir,
      emptyOutDir,
      target: 'node20',
      minify: false,
      sourcemap: false,
      reportCompressedSize: false,
      copyPublicDir: false,
      rolldownOptions: {
        // Runtime dependencies an executable declares stay outside the bundle (v86 ships a wasm file).
        external: external.length ? (id) => external.some((dep) => id === dep || id.startsWith(`${dep}/`)) : undefined,
        output: {
          format,
          // Escapes outside ASCII (\u…): one non-ASCII character makes V8 read the whole source
          // as two-byte UTF-16, slower to decode and twice the memory at every start.
          charset: 'ascii',
          // One file: a module or an executable is a single verified unit.
          codeSplitting: false,
          entryFileNames: fileName,
          banner,
        },
      },
    },
  };
}
