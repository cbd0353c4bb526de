import type { ModuleDefinition } from '@tessera/core';
import { rawFormat } from './raw-format.ts';

export default {
  name: 'block-raw',
  inits: [{ subsystem: 'block', init: (block) => block.registerFormat(rawFormat) }],
} satisfies ModuleDefinition;
