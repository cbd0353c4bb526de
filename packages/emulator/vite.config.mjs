import { appViteConfig } from '../../tools/build/vite-app.mjs';

export default ({ mode }) => appViteConfig(import.meta.dirname, mode);
