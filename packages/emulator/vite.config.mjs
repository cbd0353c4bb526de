import { appViteConfig } from '../../tools/build/vite-app.mjs';

// v86 runs from the copy the build puts next to the executable (tessera.deps/v86/), with its license.
const runtimeDependencies = { v86: ['LICENSE', 'build/libv86.mjs', 'build/v86.wasm'] };

export default ({ mode }) => appViteConfig(import.meta.dirname, mode, { runtimeDependencies });
