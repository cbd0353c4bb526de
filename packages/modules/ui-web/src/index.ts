import type { ModuleDefinition } from '@tessera/core';
import { webDisplay } from './web-display.ts';

export default {
  name: 'ui-web',
  inits: [{ subsystem: 'ui', init: (ui) => ui.registerDisplay(webDisplay) }],
} satisfies ModuleDefinition;
