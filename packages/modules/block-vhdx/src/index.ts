import type { ModuleDefinition } from '@tessera/core';
import { vhdxFormat } from './driver.ts';

export default {
  name: 'block-vhdx',
  inits: [{ subsystem: 'block', init: (block) => block.registerFormat(vhdxFormat) }],
} satisfies ModuleDefinition;
