import type { ModuleDefinition } from '@tessera/core';
import { luksCrypto, qcowAesCrypto } from './crypto-service.ts';
import { luksFormat } from './driver.ts';

export default {
  name: 'block-luks',
  inits: [
    {
      subsystem: 'block',
      init: (block) => {
        block.registerFormat(luksFormat);
        // Encryption inside other formats' images (qcow2's encrypt.format), asked for on demand.
        block.registerCrypto(luksCrypto);
        block.registerCrypto(qcowAesCrypto);
      },
    },
  ],
} satisfies ModuleDefinition;
