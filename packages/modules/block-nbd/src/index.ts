import type { ModuleDefinition } from '@tessera/core';
import { nbdProtocol } from './nbd-protocol.ts';

export default {
  name: 'block-nbd',
  inits: [{ subsystem: 'block', init: (block) => block.registerProtocol(nbdProtocol) }],
} satisfies ModuleDefinition;
