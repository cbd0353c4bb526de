import type { ModuleDefinition } from '@tessera/core';
import { qedFormat } from './driver.ts';

export default {
  name: 'block-qed',
  inits: [{ subsystem: 'block', init: (block) => block.registerFormat(qedFormat) }],
} satisfies ModuleDefinition;
