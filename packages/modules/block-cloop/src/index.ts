import type { ModuleDefinition } from '@tessera/core';
import { cloopFormat } from './driver.ts';

export default {
  name: 'block-cloop',
  inits: [{ subsystem: 'block', init: (block) => block.registerFormat(cloopFormat) }],
} satisfies ModuleDefinition;
