import type { ModuleDefinition } from '@tessera/core';
import { rbdProtocol } from './rbd-protocol.ts';

export default {
  name: 'block-rbd',
  inits: [{ subsystem: 'block', init: (block) => block.registerProtocol(rbdProtocol) }],
} satisfies ModuleDefinition;
