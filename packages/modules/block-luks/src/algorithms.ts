// The cipher suite of a LUKS image: qemu's names (`aes-256`, `xts`, `plain64`, `sha256`), the
// header's spellings (`aes`, `xts-plain64`), and what node:crypto (OpenSSL) can run.
import { getHashes } from 'node:crypto';
import { codedError } from './errors.ts';

export type CipherMode = 'ecb' | 'cbc' | 'xts' | 'ctr';
export type IvGenerator = 'plain' | 'plain64' | 'essiv';

export const CIPHER_MODES: readonly CipherMode[] = ['ecb', 'cbc', 'xts', 'ctr'];
export const IV_GENERATORS: readonly IvGenerator[] = ['plain', 'plain64', 'essiv'];

/** qemu's hash algorithms with their digest sizes. */
const HASH_SIZES: Readonly<Record<string, number>> = { md5: 16, sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64, ripemd160: 20 };
/** qemu's cipher algorithms that LUKS names (qemu's crypto/block-luks table), key size in bytes. */
const CIPHER_KEY_SIZES: Readonly<Record<string, number>> = {
  'aes-128': 16, 'aes-192': 24, 'aes-256': 32, 'cast5-128': 16,
  'serpent-128': 16, 'serpent-192': 24, 'serpent-256': 32,
  'twofish-128': 16, 'twofish-192': 24, 'twofish-256': 32,
};

export interface CipherSuite {
  /** qemu's name: `aes-256`. */
  readonly alg: string;
  readonly mode: CipherMode;
  readonly ivgen: IvGenerator;
  /** ESSIV's hash; may be named (and is then ignored) with the other generators, as dm-crypt allows. */
  readonly ivgenHash: string | undefined;
  /** PBKDF2 and anti-forensic hash. */
  readonly hash: string;
}

export const isHash = (name: string): boolean => Object.hasOwn(HASH_SIZES, name);
export const isCipherAlg = (name: string): boolean => Object.hasOwn(CIPHER_KEY_SIZES, name);
export const hashSize = (name: string): number => HASH_SIZES[name]!;

/** The master key's length: the cipher's key, twice for xts (two keys). */
export function masterKeyBytes(suite: Pick<CipherSuite, 'alg' | 'mode'>): number {
  return CIPHER_KEY_SIZES[suite.alg]! * (suite.mode === 'xts' ? 2 : 1);
}

/** The header's cipher name (`aes`) and mode string (`cbc-essiv:sha256`) for a suite. */
export function headerNames(suite: CipherSuite): { cipherName: string; cipherMode: string } {
  const hash = suite.ivgenHash === undefined ? '' : `:${suite.ivgenHash}`;
  return { cipherName: suite.alg.split('-')[0]!, cipherMode: `${suite.mode}-${suite.ivgen}${hash}` };
}

/** The suite a header names, with qemu's messages for what it does not know. */
export function suiteOfHeader(cipherName: string, cipherMode: string, hashSpec: string, keyBytes: number): CipherSuite {
  const dash = cipherMode.indexOf('-');
  if (dash < 0) throw codedError(`Unexpected cipher mode string format ${cipherMode}`, 'corrupt-image');
  const [ivgenName, ivgenHash] = splitOnce(cipherMode.slice(dash + 1), ':');
  if (ivgenHash !== undefined && !isHash(ivgenHash)) throw unsupported(`Hash algorithm '${ivgenHash}' not supported`);
  const mode = cipherMode.slice(0, dash);
  if (!(CIPHER_MODES as readonly string[]).includes(mode)) throw unsupported(`Cipher mode '${mode}' not supported`);
  const cipherKeyBytes = mode === 'xts' ? keyBytes / 2 : keyBytes;
  const alg = Object.keys(CIPHER_KEY_SIZES).find((name) => name.split('-')[0] === cipherName && CIPHER_KEY_SIZES[name] === cipherKeyBytes);
  if (alg === undefined) throw unsupported(`Algorithm '${cipherName}' with key size ${cipherKeyBytes} bytes not supported`);
  if (!isHash(hashSpec)) throw unsupported(`Hash algorithm '${hashSpec}' not supported`);
  if (!(IV_GENERATORS as readonly string[]).includes(ivgenName)) throw unsupported(`IV generator '${ivgenName}' not supported`);
  if (ivgenName === 'essiv' && ivgenHash === undefined) throw codedError('Missing IV generator hash specification', 'corrupt-image');
  const suite: CipherSuite = { alg, mode: mode as CipherMode, ivgen: ivgenName as IvGenerator, ivgenHash, hash: hashSpec };
  return suite;
}

/**
 * Refuse a suite qemu knows but this program cannot run: OpenSSL (node:crypto) has AES (no
 * aes-192 in xts), not serpent, twofish or cast5; ESSIV needs an AES key the size of its hash.
 */
export function checkRunnable(suite: CipherSuite): void {
  if (!suite.alg.startsWith('aes-')) throw unsupported(`Cipher algorithm '${suite.alg}' is not supported by this program (node:crypto has AES only); convert the image with qemu-img`);
  if (suite.mode === 'xts' && suite.alg === 'aes-192') throw unsupported("Cipher algorithm 'aes-192' in xts mode is not supported by this program (OpenSSL has no 192-bit XTS)");
  for (const hash of [suite.hash, ...(suite.ivgen === 'essiv' ? [suite.ivgenHash!] : [])]) {
    if (!getHashes().includes(hash)) throw unsupported(`Hash algorithm '${hash}' is not available in this Node's OpenSSL`);
  }
  if (suite.ivgen === 'essiv') essivCipher(suite.ivgenHash!);
}

/** ESSIV encrypts sector numbers with AES keyed by the master key's hash: AES of the digest's size (dm-crypt's quirk, as qemu). */
export function essivCipher(hash: string): string {
  const size = hashSize(hash);
  if (size !== 16 && size !== 24 && size !== 32) throw unsupported(`No AES cipher with key size ${size} available`);
  return `aes-${size * 8}-ecb`;
}

/** The node:crypto cipher name of a suite (`aes-256-xts`). */
export function opensslName(suite: CipherSuite): string {
  return `${suite.alg}-${suite.mode}`;
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

function unsupported(message: string): Error {
  return codedError(message, 'unsupported-feature');
}
