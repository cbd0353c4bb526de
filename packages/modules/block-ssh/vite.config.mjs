import { moduleViteConfig } from '../../../tools/build/vite-module.mjs';

/**
 * ssh2 tries two optional native addons (its own sshcrypto.node and cpu-features) inside
 * try/catch and falls back to Node's crypto: the bundle carries neither, and a require of one
 * throws as a missing addon does, so ssh2 takes its pure-JavaScript path.
 */
function withoutNativeAddons() {
  const stub = '\0block-ssh-no-native-addon';
  return {
    name: 'block-ssh-without-native-addons',
    enforce: 'pre',
    resolveId(id) {
      return id === 'cpu-features' || id.endsWith('.node') ? stub : null;
    },
    // ssh2 names __dirname at load (Pageant's helper path, Windows only) and in its emscripten
    // poly1305 loader (whose wasm is inline): an ES module has none, so give them a harmless one.
    transform(code, id) {
      if (!/[\\/]node_modules[\\/]ssh2[\\/]/.test(id) || !/__dirname|__filename/.test(code)) return null;
      return { code: code.replace(/\b__dirname\b/g, '"/"').replace(/\btypeof __filename\b/g, '"undefined"'), map: null };
    },
    load(id) {
      if (id !== stub) return null;
      return "throw new Error('native addon not bundled');\nmodule.exports = undefined;\n";
    },
  };
}

const config = moduleViteConfig(import.meta.dirname);
config.plugins.unshift(withoutNativeAddons());
export default config;
