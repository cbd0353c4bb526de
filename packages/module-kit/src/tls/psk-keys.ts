// qemu's tls-creds-psk key file: DIR/keys.psk, one `username:hexkey` a line (GnuTLS's psktool
// format). The client takes its username's key; the server looks up the one a client names.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const PSK_FILE = 'keys.psk';

/** The username a client presents when tls-creds-psk gives none (qemu's default). */
export const DEFAULT_PSK_USERNAME = 'qemu';

/**
 * The key file's entries by username; throws qemu's message when it cannot be read. A line
 * without a colon or with a key that is not hex is skipped (GnuTLS finds no key there either).
 */
export function readPskKeys(dir: string): Map<string, Buffer> {
  const path = join(dir, PSK_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : code === 'EISDIR' ? 'Is a directory' : (error as Error).message;
    throw new Error(`Unable to access credentials ${path}: ${why}`, { cause: error });
  }
  const keys = new Map<string, Buffer>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const hex = line.slice(colon + 1).trim();
    if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) continue;
    const username = line.slice(0, colon);
    if (!keys.has(username)) keys.set(username, Buffer.from(hex, 'hex'));
  }
  return keys;
}

/** A client's key: its username's entry, with qemu's message when there is none. */
export function pskKeyFor(dir: string, username: string): Buffer {
  const key = readPskKeys(dir).get(username);
  if (!key) throw new Error(`Username ${username} not found in PSK file ${join(dir, PSK_FILE)}`);
  return key;
}
