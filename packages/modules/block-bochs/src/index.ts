import type { ModuleDefinition } from '@tessera/core';
import { bochsFormat } from './driver.ts';

export default {
  name: 'block-bochs',
  inits: [{ subsystem: 'block', init: (block) => block.registerFormat(bochsFormat) }],
} satisfies ModuleDefinition;
