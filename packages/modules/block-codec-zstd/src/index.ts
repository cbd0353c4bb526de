import type { ModuleDefinition } from '@tessera/core';
import { zstdCodec } from './codec.ts';

export { zstdEngine } from './codec.ts';

export default {
  name: 'block-codec-zstd',
  inits: [{ subsystem: 'block', init: (block) => block.registerCodec(zstdCodec) }],
} satisfies ModuleDefinition;
