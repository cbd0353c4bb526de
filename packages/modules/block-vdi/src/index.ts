import type { ModuleDefinition } from '@tessera/core';
import { vdiFormat } from './driver.ts';

export default {
  name: 'block-vdi',
  inits: [{ subsystem: 'block', init: (block) => block.registerFormat(vdiFormat) }],
} satisfies ModuleDefinition;
