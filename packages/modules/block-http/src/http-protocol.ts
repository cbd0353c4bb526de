import { request } from 'undici';
import type { BlockProtocolDriver } from '@tessera/core';

// Placeholder until the driver lands: proves bundling of undici.
export const httpProtocol: BlockProtocolDriver = {
  name: 'http',
  schemes: ['http', 'https'],
  async open(location) {
    await request(location, { method: 'HEAD' });
    throw new Error('not yet');
  },
};
