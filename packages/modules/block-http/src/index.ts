import type { ModuleDefinition } from '@tessera/core';
import { httpProtocol } from './http-protocol.ts';

export default {
  name: 'block-http',
  inits: [{ subsystem: 'block', init: (block) => block.registerProtocol(httpProtocol) }],
} satisfies ModuleDefinition;
