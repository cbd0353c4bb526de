// qcow2's encryption options as qemu-img 7.2 takes them: create's `encrypt.*` (and the deprecated
// `encryption=on`), open's `encrypt.format` and `encrypt.key-secret`, and what create asks of the
// crypto module, with qemu's messages. Declared here, so `-o help` and option checks load nothing.
import type { BlockOptionSpec, BlockSecrets } from '@tessera/core';
import { codedError } from '../errors.ts';

const PREFIX = 'encrypt.';
const FORMAT: BlockOptionSpec = { name: 'encrypt.format', type: 'str', description: "Encrypt the image, format choices: 'aes', 'luks'" };
const KEY_SECRET: BlockOptionSpec = { name: 'encrypt.key-secret', type: 'str', description: 'ID of secret providing qcow AES key or LUKS passphrase' };

/** In the order create's "Formatting …" line prints them (before cluster_size). */
export const ENCRYPT_CREATE_OPTIONS: readonly BlockOptionSpec[] = [
  { name: 'encryption', type: 'bool', description: "Encrypt the image with format 'aes'. (Deprecated in favor of encrypt.format=aes)" },
  FORMAT,
  KEY_SECRET,
  { name: 'encrypt.cipher-alg', type: 'str', description: 'Name of encryption cipher algorithm' },
  { name: 'encrypt.cipher-mode', type: 'str', description: 'Name of encryption cipher mode' },
  { name: 'encrypt.ivgen-alg', type: 'str', description: 'Name of IV generator algorithm' },
  { name: 'encrypt.ivgen-hash-alg', type: 'str', description: 'Name of IV generator hash algorithm' },
  { name: 'encrypt.hash-alg', type: 'str', description: 'Name of encryption hash algorithm' },
  { name: 'encrypt.iter-time', type: 'num', description: 'Time to spend in PBKDF in milliseconds' },
];

/** `--image-opts driver=qcow2,encrypt.key-secret=ID`: the secret names the image opened (qemu's strong option). */
export const ENCRYPT_OPEN_OPTIONS: readonly BlockOptionSpec[] = [FORMAT, { ...KEY_SECRET, strong: true }];

export interface EncryptionRequest {
  readonly format: 'aes' | 'luks';
  /** The `encrypt.*` options without their prefix, as the crypto module takes them. */
  readonly options: Readonly<Record<string, string>>;
}

const TRUE = ['on', 'yes', 'true'];

/** The encryption `-o` asks for, or undefined; refused with qemu-img's messages. */
export function encryptionRequest(formatOptions: Readonly<Record<string, string>>): EncryptionRequest | undefined {
  const legacy = formatOptions.encryption !== undefined && TRUE.includes(formatOptions.encryption);
  let format = formatOptions['encrypt.format'];
  if (format !== undefined && formatOptions.encryption !== undefined) {
    throw codedError("'encrypt.format' and its alias 'encryption' can't be used at the same time", 'invalid-option');
  }
  if (legacy) format = 'aes';
  const given = Object.keys(formatOptions).filter((key) => key.startsWith(PREFIX) && key !== FORMAT.name);
  if (format === undefined) {
    if (given.length) throw codedError("Parameter 'encrypt.format' is missing", 'invalid-option');
    return undefined;
  }
  if (format !== 'aes' && format !== 'luks') throw codedError(`Parameter 'format' does not accept value '${format}'`, 'invalid-option');
  // The legacy format takes a secret and nothing else.
  const unexpected = format === 'aes' ? given.find((key) => key !== KEY_SECRET.name) : undefined;
  if (unexpected !== undefined) throw codedError(`Parameter '${unexpected}' is unexpected`, 'invalid-option');
  const options = Object.fromEntries(given.map((key) => [key.slice(PREFIX.length), formatOptions[key]!]));
  return { format, options };
}

/**
 * What create can refuse before any storage is made, without loading the crypto module: the
 * secret named and defined (qemu's words). The suite is checked by the module at create.
 */
export function checkEncryptionSecret(request: EncryptionRequest, secrets: BlockSecrets | undefined): void {
  const id = request.options['key-secret'];
  if (id === undefined) throw codedError(`Parameter '${KEY_SECRET.name}' is required for cipher`, 'invalid-option');
  if (!secrets) throw codedError(`No secret with id '${id}'`, 'invalid-option');
  secrets.secret(id);
}

export const ENCRYPT_PREFIX = PREFIX;
