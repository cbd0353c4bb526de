// Third-party packages bundled into a module or an executable may try optional native addons
// (ssh2: its sshcrypto.node and cpu-features) inside try/catch, falling back to JavaScript. A
// bundle is one file and carries no addon: such a require resolves to a stub that throws as a
// missing addon does. And CommonJS code naming __dirname (ssh2's Pageant path, its emscripten
// poly1305 loader with inline wasm) gets a harmless "/" in a bundle that has none (an ES
// executable, or a module, which runs from its verified bytes).
const stub = '\0tessera-no-bundled-addon';

export function bundledAddonsStubbed(hasFileIdentity) {
  return {
    name: 'tessera-bundled-addons-stubbed',
    enforce: 'pre',
    resolveId(id, importer) {
      return id.endsWith('.node') && importer !== undefined && /[\\/]node_modules[\\/]/.test(importer) ? stub : null;
    },
    load(id) {
      return id === stub ? "throw new Error('native addon not bundled');\nmodule.exports = undefined;\n" : null;
    },
    transform(code, id) {
      if (hasFileIdentity || !/[\\/]node_modules[\\/]/.test(id) || !code.includes('__dirname')) return null;
      return { code: code.replace(/(?<!typeof )\b__dirname\b/g, '"/"').replace(/\btypeof __filename\b/g, '"undefined"'), map: null };
    },
  };
}
