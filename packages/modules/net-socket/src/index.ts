import type { ModuleDefinition } from '@tessera/core';
import { socketNetdev } from './socket-netdev.ts';

export default {
  name: 'net-socket',
  inits: [{ subsystem: 'net', init: (net) => net.registerNetdev(socketNetdev) }],
} satisfies ModuleDefinition;
