import type { ModuleDefinition } from '@tessera/core';
import { setCodecSource } from './codecs.ts';
import { setCryptoSource } from './encryption/crypto-source.ts';
import { qcow2Format } from './format.ts';

export default {
  name: 'block-qcow2',
  inits: [
    {
      subsystem: 'block',
      init: (block) => {
        setCodecSource(block); // zstd clusters ask it for the block-codec-zstd module, on demand
        setCryptoSource(block); // encrypted images ask it for block-luks's encryption, on demand
        block.registerFormat(qcow2Format);
      },
    },
  ],
} satisfies ModuleDefinition;
