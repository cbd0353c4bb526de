import type { ModuleDefinition } from '@tessera/core';
import { sshProtocol } from './ssh-protocol.ts';

export default {
  name: 'block-ssh',
  inits: [{ subsystem: 'block', init: (block) => block.registerProtocol(sshProtocol) }],
} satisfies ModuleDefinition;
