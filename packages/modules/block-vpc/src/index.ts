import type { ModuleDefinition } from '@tessera/core';
import { vpcFormat } from './driver.ts';

export default {
  name: 'block-vpc',
  inits: [{ subsystem: 'block', init: (block) => block.registerFormat(vpcFormat) }],
} satisfies ModuleDefinition;
