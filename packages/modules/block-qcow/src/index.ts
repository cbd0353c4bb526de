import type { ModuleDefinition } from '@tessera/core';
import { qcowFormat } from './driver.ts';

export default {
  name: 'block-qcow',
  inits: [{ subsystem: 'block', init: (block) => block.registerFormat(qcowFormat) }],
} satisfies ModuleDefinition;
