import type { DisplayBackend } from '@tessera/core';

// Placeholder until the web display lands.
export const webDisplay: DisplayBackend = {
  name: 'web',
  options: ['port', 'addr'],
  async open() {
    throw new Error('-display web: not implemented yet');
  },
};
