import type { ModuleDefinition } from '@tessera/core';
import { setCodecSource } from './codecs.ts';
import { qcow2Format } from './format.ts';

export default {
  name: 'block-qcow2',
  inits: [
    {
      subsystem: 'block',
      init: (block) => {
        setCodecSource(block); // zstd clusters ask it for the block-codec-zstd module, on demand
        block.registerFormat(qcow2Format);
      },
    },
  ],
} satisfies ModuleDefinition;
