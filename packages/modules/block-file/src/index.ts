import type { ModuleDefinition } from '@tessera/core';
import { fileProtocol } from './file-protocol.ts';

export default {
  name: 'block-file',
  inits: [{ subsystem: 'block', init: (block) => block.registerProtocol(fileProtocol) }],
} satisfies ModuleDefinition;
