import { appViteConfig } from '../../tools/build/vite-app.mjs';

// An ES module: a server starts once, so it has no code cache (img-tool's start-up tuning).
export default ({ mode }) => appViteConfig(import.meta.dirname, mode);
