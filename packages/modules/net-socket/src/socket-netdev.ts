import type { NetBackend } from '@tessera/core';

// Placeholder until the socket backend lands.
export const socketNetdev: NetBackend = {
  name: 'socket',
  options: ['listen', 'connect', 'mcast', 'localaddr'],
  async open() {
    throw new Error('-netdev socket: not implemented yet');
  },
};
