import { moduleViteConfig } from '../../../tools/build/vite-module.mjs';

export default moduleViteConfig(import.meta.dirname);
