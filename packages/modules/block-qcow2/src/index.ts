import type { ModuleDefinition } from '@tessera/core';
import { qcow2Format } from './format.ts';

export default {
  name: 'block-qcow2',
  inits: [{ subsystem: 'block', init: (block) => block.registerFormat(qcow2Format) }],
} satisfies ModuleDefinition;
