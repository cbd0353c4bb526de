import type { ImageDescription } from '@tessera/core';
import type { CipherSuite } from './algorithms.ts';
import { SECTOR_SIZE, type LuksHeader } from './header.ts';

/** qemu-img info's luks block (QCryptoBlockInfoLUKS), keys in qemu-img's order. */
export function describeLuks(header: LuksHeader, suite: CipherSuite): ImageDescription {
  return {
    encrypted: true,
    formatSpecific: {
      type: 'luks',
      data: {
        'ivgen-alg': suite.ivgen,
        'hash-alg': suite.hash,
        'cipher-alg': suite.alg,
        uuid: header.uuid,
        ...(suite.ivgen === 'essiv' ? { 'ivgen-hash-alg': suite.ivgenHash } : {}),
        'cipher-mode': suite.mode,
        slots: header.slots.map((slot) => ({
          active: slot.active,
          ...(slot.active ? { iters: slot.iterations } : {}),
          'key-offset': slot.keyOffsetSector * SECTOR_SIZE,
          ...(slot.active ? { stripes: slot.stripes } : {}),
        })),
        'payload-offset': header.payloadOffsetSector * SECTOR_SIZE,
        'master-key-iters': header.mkDigestIterations,
      },
    },
  };
}
