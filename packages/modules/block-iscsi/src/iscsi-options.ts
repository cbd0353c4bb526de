import type { BlockSecrets } from '@tessera/core';
import { iscsiError } from './errors.ts';
import { ISCSI_ADDRESS_OPTIONS } from './iscsi-url.ts';

/** Driver options of an iscsi node (`--image-opts file.<name>=<value>`), qemu's names where qemu has them. */
export const ISCSI_OPTION_NAMES = ['filename', ...ISCSI_ADDRESS_OPTIONS, 'user', 'password', 'password-secret', 'initiator-name', 'header-digest', 'timeout', 'connect-timeout'] as const;

/** qemu's default initiator name (without a VM name or uuid to append). */
export const DEFAULT_INITIATOR_NAME = 'iqn.2008-11.org.linux-kvm';

export interface IscsiOptions {
  readonly initiatorName: string;
  readonly user?: string;
  readonly password?: string;
  /** Connecting and the whole login must fit in this (ms). */
  readonly connectTimeoutMs: number;
  /** Each SCSI command, from sending it to its status (ms). */
  readonly commandTimeoutMs: number;
}

// qemu 7.2's iscsi client (libiscsi) reconnects for ever when the target goes away, and has no
// command deadline unless `timeout` is set. A tool must not hang: login gets 10 s (a login takes
// milliseconds on a LAN) and each command 30 s (a command is at most 2 MiB: 30 s allows links of
// ~70 KiB/s), as block-nbd's deadlines.
const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10;
const DEFAULT_TIMEOUT_SECONDS = 30;
const MAX_TIMEOUT_SECONDS = 10_000;

/** `secrets`: the `--object secret`s, for `password-secret` (qemu's CHAP password given by a secret's id). */
export function parseIscsiOptions(
  shownUrl: string,
  options: Readonly<Record<string, string>>,
  fromUrl: { user?: string; password?: string },
  secrets?: BlockSecrets,
): IscsiOptions {
  const seconds = (name: string, fallback: number): number => {
    const value = options[name];
    // qemu's timeout=0 means no deadline; here it means the default (never unbounded).
    if (value === undefined || value.trim() === '0') return fallback * 1000;
    const number = /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : NaN;
    if (!(number > 0 && number <= MAX_TIMEOUT_SECONDS)) {
      throw iscsiError(`Could not open '${shownUrl}': option '${name}' must be a number of seconds above 0 and at most ${MAX_TIMEOUT_SECONDS}, not '${value}'`, 'invalid-option');
    }
    return Math.round(number * 1000);
  };
  const digest = options['header-digest'];
  if (digest !== undefined && !/^(none|none-crc32c)$/i.test(digest)) {
    throw iscsiError(`Could not open '${shownUrl}': Invalid header-digest setting : ${digest} (only none is supported)`, 'unsupported-feature');
  }
  const initiatorName = options['initiator-name'] ?? DEFAULT_INITIATOR_NAME;
  if (initiatorName.length === 0 || initiatorName.length > 223) {
    throw iscsiError(`Could not open '${shownUrl}': initiator-name must be 1 to 223 bytes long`, 'invalid-option');
  }
  const user = options.user ?? fromUrl.user;
  const secretId = options['password-secret'];
  if (secretId !== undefined && options.password !== undefined) {
    throw iscsiError(`Could not open '${shownUrl}': 'password' and 'password-secret' properties are mutually exclusive`, 'invalid-option');
  }
  const password = secretId !== undefined ? secretText(shownUrl, secretId, secrets) : (options.password ?? fromUrl.password);
  return {
    initiatorName,
    ...(user !== undefined ? { user } : {}),
    ...(password !== undefined ? { password } : {}),
    connectTimeoutMs: seconds('connect-timeout', DEFAULT_CONNECT_TIMEOUT_SECONDS),
    commandTimeoutMs: seconds('timeout', DEFAULT_TIMEOUT_SECONDS),
  };
}

function secretText(shownUrl: string, id: string, secrets: BlockSecrets | undefined): string {
  try {
    if (!secrets) throw new Error(`No secret with id '${id}'`);
    return new TextDecoder('utf-8', { fatal: true }).decode(secrets.secret(id));
  } catch (error) {
    const why = error instanceof TypeError ? `Data from secret ${id} is not valid UTF-8` : (error as Error).message;
    throw iscsiError(`Could not open '${shownUrl}': ${why}`, 'invalid-option', error);
  }
}
