import type { ModuleDefinition } from '@tessera/core';
import { dmgFormat } from './driver.ts';

export default {
  name: 'block-dmg',
  inits: [{ subsystem: 'block', init: (block) => block.registerFormat(dmgFormat) }],
} satisfies ModuleDefinition;
