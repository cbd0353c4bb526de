// Where the encryption comes from: block-luks, which block-qcow2 declares in its `dependsOn` and
// asks the block registrar for (`block-crypto:luks` / `:aes`) only when an encrypted image is
// opened or created, so plain images, `info x.raw` and `-o help` never load it (as codecs.ts).
import type { BlockCrypto, BlockRegistrar } from '@tessera/core';
import { codedError } from '../errors.ts';

let registrar: Pick<BlockRegistrar, 'crypto'> | undefined;

/** The registrar block-qcow2's init received (tests may hand their own). */
export function setCryptoSource(source: Pick<BlockRegistrar, 'crypto'>): void {
  registrar = source;
}

/** The `aes` or `luks` encryption, loading its module on first use. */
export async function cryptoOf(format: 'aes' | 'luks'): Promise<BlockCrypto> {
  if (!registrar) throw codedError(`qcow2: the ${format} encryption is not available here`, 'unsupported-feature');
  return registrar.crypto(format);
}
