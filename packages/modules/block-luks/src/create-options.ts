import type { BlockOptionSpec } from '@tessera/core';
import { CIPHER_MODES, IV_GENERATORS, isCipherAlg, isHash, type CipherSuite } from './algorithms.ts';
import { codedError } from './errors.ts';

/** `qemu-img create -f luks -o help`: qemu's names, help text and order. */
export const createOptionTable: readonly BlockOptionSpec[] = [
  { name: 'size', type: 'size', description: 'Virtual disk size' },
  { name: 'key-secret', type: 'str', description: 'ID of the secret that provides the keyslot passphrase' },
  { name: 'cipher-alg', type: 'str', description: 'Name of encryption cipher algorithm' },
  { name: 'cipher-mode', type: 'str', description: 'Name of encryption cipher mode' },
  { name: 'ivgen-alg', type: 'str', description: 'Name of IV generator algorithm' },
  { name: 'ivgen-hash-alg', type: 'str', description: 'Name of IV generator hash algorithm' },
  { name: 'hash-alg', type: 'str', description: 'Name of encryption hash algorithm' },
  { name: 'iter-time', type: 'num', description: 'Time to spend in PBKDF in milliseconds' },
];

/** `--image-opts driver=luks,key-secret=ID`. */
export const openOptionTable: readonly BlockOptionSpec[] = [
  { name: 'key-secret', type: 'str', description: 'ID of the secret that provides the keyslot passphrase' },
];

export interface LuksCreateOptions {
  readonly keySecret: string | undefined;
  readonly suite: CipherSuite;
  /** Milliseconds of PBKDF2 for the key slot (an eighth of it for the master key digest). */
  readonly iterTime: number;
}

/** qemu's defaults: aes-256 in xts with plain64 IVs, sha256, 2 s of PBKDF2; essiv hashes with sha256 unless told. */
export function parseCreateOptions(options: Readonly<Record<string, string>>): LuksCreateOptions {
  const pick = (name: string, fallback: string, valid: (value: string) => boolean) => {
    const value = options[name] ?? fallback;
    if (!valid(value)) throw codedError(`Parameter '${name}' does not accept value '${value}'`, 'invalid-option');
    return value;
  };
  const alg = pick('cipher-alg', 'aes-256', isCipherAlg);
  const mode = pick('cipher-mode', 'xts', (value) => (CIPHER_MODES as readonly string[]).includes(value)) as CipherSuite['mode'];
  const ivgen = pick('ivgen-alg', 'plain64', (value) => (IV_GENERATORS as readonly string[]).includes(value)) as CipherSuite['ivgen'];
  const ivgenHash = options['ivgen-hash-alg'] !== undefined || ivgen === 'essiv' ? pick('ivgen-hash-alg', 'sha256', isHash) : undefined;
  const hash = pick('hash-alg', 'sha256', isHash);
  const iterTime = Number(options['iter-time'] ?? '2000');
  if (!Number.isSafeInteger(iterTime) || iterTime < 0) throw codedError(`Parameter 'iter-time' expects a number`, 'invalid-option');
  return { keySecret: options['key-secret'], suite: { alg, mode, ivgen, ivgenHash, hash }, iterTime };
}
