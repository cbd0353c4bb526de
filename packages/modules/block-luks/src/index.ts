import type { ModuleDefinition } from '@tessera/core';
import { luksFormat } from './driver.ts';

export default {
  name: 'block-luks',
  inits: [{ subsystem: 'block', init: (block) => block.registerFormat(luksFormat) }],
} satisfies ModuleDefinition;
