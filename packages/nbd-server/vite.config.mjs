import { appViteConfig } from '../../tools/build/vite-app.mjs';

// CommonJS (package.json `bin`), so that main.ts sizes libuv's thread pool before it starts; no
// code cache: a server starts once (img-tool's start-up tuning).
export default ({ mode }) => appViteConfig(import.meta.dirname, mode);
