import type { ModuleDefinition } from '@tessera/core';
import { parallelsFormat } from './driver.ts';

export default {
  name: 'block-parallels',
  inits: [{ subsystem: 'block', init: (block) => block.registerFormat(parallelsFormat) }],
} satisfies ModuleDefinition;
