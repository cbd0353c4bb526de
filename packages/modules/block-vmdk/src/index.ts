import type { ModuleDefinition } from '@tessera/core';
import { vmdkFormat } from './driver.ts';

export default {
  name: 'block-vmdk',
  inits: [{ subsystem: 'block', init: (block) => block.registerFormat(vmdkFormat) }],
} satisfies ModuleDefinition;
