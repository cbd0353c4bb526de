import type { ModuleDefinition } from '@tessera/core';
import { iscsiProtocol } from './iscsi-protocol.ts';

export default {
  name: 'block-iscsi',
  inits: [{ subsystem: 'block', init: (block) => block.registerProtocol(iscsiProtocol) }],
} satisfies ModuleDefinition;
